"""Mutation analysis (``make mutants``): the operators, the runner on the tiny assignment, the real assignments.

1. each mutation operator makes the mutant it should on a small source, only inside the solution
   blocks, with stable ids;
2. the runner, on ``tests/fixtures/tiny``: a mutant of ``2 * x`` is killed, a survivor listed as
   equivalent is accepted, an unlisted survivor or a stale entry fails the run, a wrong answer that
   loses points in another task than its own is reported;
3. (slow) every assignment whose equivalent-mutant list says ``enforced: true``: the solution scores
   full marks in the runner, no unlisted survivor, no stale entry, and every wrong answer loses
   points where it should; the others only have their mutants made, until they are enforced.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fixtures.tiny.course import SOURCE as TINY

from autograder.authoring.layout import slugs, solution_path
from autograder.authoring.mutants import (
    EQUIVALENTS_DIR,
    Equivalents,
    evaluate,
    load_equivalents,
    load_plan,
    notebook_mutants,
)
from autograder.authoring.mutation import mutants_of, solution_lines, strip_markers

REPO = Path(__file__).resolve().parent.parent


def _afters(source: str, operator: str, known=()) -> list[str]:
    return [m.after for m in mutants_of(source, "cell", known=known) if m.operator == operator]


# -- 1. operators -----------------------------------------------------------------------------------------


def test_only_solution_blocks_are_mutated():
    source = "x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\nz = 3"
    assert strip_markers(source) == "x = 1\ny = 2\nz = 3"
    assert solution_lines(source) == {2}
    assert {m.line for m in mutants_of(source, "c")} == {2}


@pytest.mark.parametrize(
    ("source", "operator", "expected"),
    [
        ("a = x < 10", "compare", ["a = x <= 10"]),
        ("a = x >= 10", "compare", ["a = x > 10"]),
        ("a = x == y", "compare", ["a = x != y"]),
        ("a = b and c", "bool-op", ["a = b or c"]),
        ("a = 2 * x", "arith-op", ["a = 2 / x"]),
        ("a = 'm' in t", "membership", ["a = 'm' not in t"]),
        (
            "a = f(x) if c else g",
            "if-branch",
            ["a = f(x) if (c) and False else g", "a = f(x) if (c) or True else g"],
        ),
        ("a = not b", "not-drop", ["a = b"]),
        ("a = f(keep_original=True)", "true-false", ["a = f(keep_original=False)"]),
        ("a = 'spam'", "string", ["a = 'XXspamXX'", "a = 'SPAM'"]),
        ("a = t.lower()", "string-method", ["a = t.upper()"]),
        ("a = f(x, y)", "argument", ["a = f(None, y)", "a = f(x, None)", "a = f(y)", "a = f(x)"]),
        ("a = dict(keywords=k)", "argument-name", ["a = dict(keywordsXX=k)"]),
        ("a = b", "assignment", ["a = None"]),
        ("f = lambda x: x", "lambda", ["f = lambda x: None"]),
    ],
)
def test_mutmut_operators(source, operator, expected):
    assert _afters(source, operator) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a = x < 10", ["a = x < 11", "a = x < 9"]),  # n ± 1 up to 10
        (
            "a = f(n_epochs=500)",
            ["a = f(n_epochs=1000)", "a = f(n_epochs=250)"],
        ),  # larger ones doubled and halved
        ("a = x > 0.5", ["a = x > 0.4", "a = x > 0.6"]),
        ("a = x < -0.2", ["a = x < -0.1", "a = x < -0.3"]),
        ("a = f(lr=0.001)", ["a = f(lr=0.0005)", "a = f(lr=0.002)"]),
        ("a = f(C=1000.0)", ["a = f(C=100.0)", "a = f(C=10000.0)"]),
        ("a = x[0]", ["a = x[1]"]),
    ],
)
def test_numbers(source, expected):
    assert _afters(source, "number") == expected


def test_regex_flags_added_and_dropped():
    assert _afters('a = re.search(r"a.*b", t, flags=re.I)', "regex-flags") == ['a = re.search(r"a.*b", t)']
    assert _afters('a = re.search(r"a.*b", t, re.I)', "regex-flags") == ['a = re.search(r"a.*b", t)']
    assert _afters('a = re.search(r"a.*b", t)', "regex-flags") == ['a = re.search(r"a.*b", t, flags=re.I)']
    assert _afters("p = re.compile(r'x')", "regex-flags") == ["p = re.compile(r'x', flags=re.I)"]
    assert _afters("a = t.search(r'x')", "regex-flags") == []


def test_case_and_copy_dropped():
    assert _afters("a = 'my' in x.text.lower()", "case-drop") == ["a = 'my' in x.text"]
    assert _afters("x = x.copy()", "copy-drop") == ["x = x"]
    assert _afters("y = copy.deepcopy(x)", "copy-drop") == ["y = x"]
    assert _afters("y = x.copy(deep=True)", "copy-drop") == []


def test_label_swap_only_to_known_labels():
    source = "def f(x):\n    return SPAM if x else ABSTAIN"
    assert _afters(source, "label-swap", known={"SPAM", "HAM", "ABSTAIN"}) == [
        "return HAM if x else ABSTAIN",
        "return ABSTAIN if x else ABSTAIN",
        "return SPAM if x else SPAM",
        "return SPAM if x else HAM",
    ]
    assert _afters(source, "label-swap", known={"SPAM", "ABSTAIN"}) == [
        "return ABSTAIN if x else ABSTAIN",
        "return SPAM if x else SPAM",
    ]


def test_split_swap_names_strings_and_affixes():
    known = {"train", "dev", "test", "L_train", "L_test", "X_train"}
    assert _afters("s = f(L_test, test)", "split-swap", known=known) == [
        "s = f(L_train, test)",
        "s = f(L_test, train)",
        "s = f(L_test, dev)",
    ]
    assert _afters("X_test = g(X_train)", "split-swap", known=known) == []  # targets and unknown names stay
    assert _afters('d = h("train")', "split-swap") == ['d = h("dev")', 'd = h("valid")', 'd = h("test")']
    assert _afters("a = x.test", "split-swap", known=known) == []  # an attribute is not a split
    assert _afters("m.fit(L_train=L_test)", "split-swap", known=known) == ["m.fit(L_train=L_train)"]


def test_seeds_removed_and_changed():
    assert _afters("m = M(C=1, random_state=SEED)", "seed") == [
        "m = M(C=1)",
        "m = M(C=1, random_state=SEED + 1)",
    ]
    assert _afters("m.fit(L, seed=SEED, n=2)", "seed") == ["m.fit(L, n=2)", "m.fit(L, seed=SEED + 1, n=2)"]
    assert _afters("np.random.seed(SEED)\nrandom.seed(SEED)\nseed_everything()", "seed") == [
        "pass",
        "pass",
        "pass",
    ]


def test_loops_cut_to_their_first_item():
    assert _afters("for w in words:\n    n += 1", "loop-first") == ["for w in list(words)[:1]:"]
    assert _afters("a = any(k in t for k in keys)", "loop-first") == [
        "a = any(k in t for k in list(keys)[:1])"
    ]


def test_return_values_altered():
    source = "def f(x, keys):\n    return g(keys)"
    assert _afters(source, "return-value") == ["return None", "return x"]
    assert _afters("def f(x):\n    return x", "return-value") == ["return None"]
    assert _afters("def f(x):\n    return None", "return-value") == []


def test_messages_and_cosmetic_arguments_are_not_mutated():
    source = 'print(f"{n} rows", "done")\nL = apply(df=d, progress_bar=False, log_freq=100)'
    mutants = mutants_of(source, "c")
    assert mutants and all(m.line == 2 for m in mutants), [m.describe() for m in mutants]
    kept_call = [m.after for m in mutants if "apply(" in m.after]
    assert kept_call and all("progress_bar=False, log_freq=100" in after for after in kept_call), kept_call


def test_ids_are_stable_and_numbered_per_operator():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return SPAM if len(x) < 5 and x[0] > 2 else HAM\n    ### END SOLUTION"
    first = mutants_of(source, "q1-lf", known={"SPAM", "HAM", "ABSTAIN"})
    again = mutants_of(source, "q1-lf", known={"SPAM", "HAM", "ABSTAIN"})
    assert [(m.id, m.source) for m in first] == [(m.id, m.source) for m in again]
    assert len({m.id for m in first}) == len(first)
    compare = [m for m in first if m.operator == "compare"]
    assert [m.id for m in compare] == ["q1-lf:compare:1", "q1-lf:compare:2"]
    assert compare[1].after == "return SPAM if len(x) < 5 and x[0] >= 2 else HAM"
    assert all(m.line == 2 and m.before == "return SPAM if len(x) < 5 and x[0] > 2 else HAM" for m in first)
    assert len({m.source for m in first}) == len(first), "two ids for the same mutant"


# -- 2. the runner on the tiny assignment --------------------------------------------------------------------


TINY_WRONG = """
WRONG_ANSWERS = {
    "answer-41": {"why": "off by one", "answers": {"q1-answer": "answer = 41"}, "loses": ["q1-answer-tests"]},
    "claims-the-wrong-task": {"why": "a fixture that names the wrong task",
                              "answers": {"q2-double": "def double(x):\\n    return x + x if x > 0 else x"},
                              "loses": ["q1-answer-tests"]},
}
"""


def _mutants_json(*args: str, cwd: Path, timeout: float) -> tuple[subprocess.CompletedProcess, dict]:
    """``python -m autograder.authoring.mutants <args> --json`` and its report, which must list no errors."""
    done = subprocess.run(
        [sys.executable, "-m", "autograder.authoring.mutants", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )
    assert done.stdout.strip(), done.stderr[-3000:]
    data = json.loads(done.stdout)
    assert not data["errors"], "\n".join(data["errors"])
    return done, data


def _run_tiny(tmp_path: Path, equivalents: dict | None, *extra: str) -> tuple[int, dict]:
    listing = tmp_path / "tiny.yml"
    if equivalents is not None:
        listing.write_text(yaml.safe_dump(equivalents, sort_keys=False))
    wrong = tmp_path / "wrong.py"
    wrong.write_text(TINY_WRONG)
    done, data = _mutants_json(
        "--notebook",
        str(TINY),
        "--equivalents",
        str(listing),
        "--wrong-answers",
        str(wrong),
        *extra,
        cwd=tmp_path,
        timeout=600,
    )
    return done.returncode, data["assignments"][0]


@pytest.fixture(scope="module")
def tiny_unlisted(tmp_path_factory):
    return _run_tiny(tmp_path_factory.mktemp("tiny"), {"enforced": True, "equivalent": {}}, "--spill", "1")


def test_tiny_mutant_of_the_doubling_is_killed(tiny_unlisted):
    _, report = tiny_unlisted
    mutants = {m["id"]: m for m in report["mutants"]}
    three = [m for m in mutants.values() if m["cell"] == "q2-double" and m["after"] == "return 3 * x"]
    assert len(three) == 1
    assert three[0]["status"] == "ok"
    assert three[0]["scores"]["q2-double-tests"] == [0.0, 2.0]
    assert three[0]["id"] not in {m["id"] for m in report["survived"]}
    # every task's test cell was graded, the next task's too (spill-over), with the solution elsewhere
    assert set(three[0]["scores"]) == {"q2-double-tests", "q3-vowels-tests"}
    assert three[0]["scores"]["q3-vowels-tests"] == [2.0, 2.0]


def test_tiny_unlisted_survivor_fails_an_enforced_run(tiny_unlisted):
    code, report = tiny_unlisted
    survivors = {m["id"]: m["after"] for m in report["survived"]}
    # ch in "XXaeiouXX" counts the same letters: the text is lower-cased first, so the upper-case X never matches
    assert survivors == {"q3-vowels:string:1": 'return sum(ch in "XXaeiouXX" for ch in text.lower())'}
    assert code == 1
    assert 0 < report["score"] < 1


def test_tiny_wrong_answers_lose_points_in_their_task_only(tiny_unlisted):
    _, report = tiny_unlisted
    label = "wrong answer 'claims-the-wrong-task' (a fixture that names the wrong task)"
    assert sorted(report["fixture_failures"]) == [
        f"{label} also loses points in q2-double-tests (0 of 2)",
        f"{label} keeps its points in q1-answer-tests: that test runs before the answer cells it changes",
    ]


def test_tiny_listed_equivalent_is_accepted_and_stale_entries_fail(tiny_unlisted, tmp_path):
    _, report = tiny_unlisted
    line = 'return sum(ch in "XXaeiouXX" for ch in text.lower())'
    why = "the text is lower-cased first, so the upper-case X never counts"
    listed = {"q3-vowels:string:1": {"line": line, "why": why}}

    judged = evaluate("tiny", report["result"], Equivalents(tmp_path / "tiny.yml", True, listed))
    assert [m["id"] for m in judged.equivalent] == ["q3-vowels:string:1"]
    assert not judged.survived and not judged.stale  # (its wrong fixture still fails, on purpose)
    gone = evaluate(
        "tiny",
        report["result"],
        Equivalents(
            tmp_path / "tiny.yml",
            True,
            {**listed, "q3-vowels:number:9": {"line": "x", "why": "no such mutant"}},
        ),
    )
    assert gone.stale == [
        "q3-vowels:number:9 is listed as equivalent but no such mutant exists now: remove it"
    ]
    moved = evaluate(
        "tiny",
        report["result"],
        Equivalents(
            tmp_path / "tiny.yml",
            True,
            {
                "q3-vowels:string:1": {
                    "line": "return sum(ch in 'aeiouy' for ch in text)",
                    "why": "an older solution",
                }
            },
        ),
    )
    assert moved.failed and len(moved.stale) == 1 and "now changes it to" in moved.stale[0]
    killed = evaluate(
        "tiny",
        report["result"],
        Equivalents(
            tmp_path / "tiny.yml",
            True,
            {**listed, "q2-double:number:1": {"line": "return 3 * x", "why": "wrongly listed"}},
        ),
    )
    assert killed.stale == ["q2-double:number:1 is listed as equivalent but is killed now: remove it"]
    relaxed = evaluate("tiny", report["result"], Equivalents(tmp_path / "tiny.yml", False, {}))
    assert relaxed.survived and not relaxed.equivalents.enforced


def test_tiny_run_passes_with_its_equivalent_listed(tmp_path):
    listed = {
        "q3-vowels:string:1": {
            "line": 'return sum(ch in "XXaeiouXX" for ch in text.lower())',
            "why": "the text is lower-cased first, so the upper-case X never counts",
        }
    }
    code, report = _run_tiny(tmp_path, {"enforced": True, "equivalent": listed}, "--only", "q3-vowels")
    assert report["equivalent"] == ["q3-vowels:string:1"] and not report["survived"] and not report["stale"]
    assert code == 0


def test_equivalent_lists_are_well_formed():
    for path in sorted(EQUIVALENTS_DIR.glob("*.yml")):
        listing = load_equivalents(path)  # raises on an entry without `line` and `why`
        assert (REPO / "solutions" / path.stem).is_dir(), f"{path.name} names no assignment"
        for mutant_id, entry in listing.entries.items():
            assert mutant_id.count(":") == 2, mutant_id
            assert "\n" not in entry["why"].strip(), f"{mutant_id}: the reason is one line"


# -- 3. the assignments ------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("slug", slugs())
def test_assignment_mutation_analysis(slug):
    """``make mutants`` for one assignment, once its list is enforced: no unlisted survivor, no stale entry, every
    wrong answer loses points in its task; the solution scores full marks in the runner (else exit status 2).

    An assignment whose list says ``enforced: false`` (its hidden tests are still being strengthened) only has its
    mutants made here: every task gets some. Enable it by setting ``enforced: true`` in its list.
    """
    listing = load_equivalents(EQUIVALENTS_DIR / f"{slug}.yml")
    if not listing.enforced:
        plan = load_plan(solution_path(slug))
        made = {m.cell for m in notebook_mutants(plan)}
        assert made == set(plan.tasks), f"answer cells without mutants: {sorted(set(plan.tasks) - made)}"
        return
    done, data = _mutants_json(slug, cwd=REPO, timeout=3600)
    (report,) = data["assignments"]
    problems = [
        f"survivor {m['id']} (line {m['line']}): {m['before']} -> {m['after']}" for m in report["survived"]
    ]
    problems += report["stale"] + report["fixture_failures"]
    assert not problems, f"{slug}:\n" + "\n".join(problems)
    assert done.returncode == 0, done.stderr[-2000:]
