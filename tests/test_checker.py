"""The checker's protocol: plain data only, decoded strictly; handles that behave like the learner's objects.

The kernel's side (:mod:`autograder.checks.bridge`) is exercised in this process, with a namespace
standing in for the kernel's; the round trip through a real kernel and sandbox is tested in
``test_grading_integrity.py``.
"""

import ast
import json

import numpy as np
import pandas as pd
import pytest
from snorkel.labeling import LabelingFunction, PandasLFApplier, labeling_function

from autograder.checks import (
    CheckFailed,
    call_each,
    call_safely,
    codec,
    expect,
    is_stub,
    remote,
    require_function,
)
from autograder.checks import bridge as kernel_bridge
from autograder.grading.checker import free_names, setup_imports
from labeling_labs.constants import ABSTAIN, SPAM


@pytest.fixture
def kernel(monkeypatch):
    """A namespace playing the learner's kernel, and the checker's channel to it."""
    namespace: dict = {}
    monkeypatch.setattr(kernel_bridge, "_LOCAL_NAMESPACE", namespace)
    remote.set_channel(lambda request: json.loads(kernel_bridge.serve(json.dumps(request))))
    yield namespace
    remote.set_channel(None)
    kernel_bridge._REFS.clear()


def fetch(name: str):
    reply = remote._ask({"op": "names", "names": [name]})
    return codec.decode(reply["values"][name], remote.make_handle)


def test_plain_values_round_trip_as_the_checker_own_objects():
    frame = pd.DataFrame({"text": ["a", "b"], "label": [1, 0]}, index=pd.Index([1001, 1002], name="row_id"))
    for value in [
        None,
        True,
        3,
        2.5,
        float("inf"),
        "x",
        [1, "a"],
        (1, 2),
        {"a": 1},
        {1: "a"},
        {3, 4},
        b"\x00",
        np.arange(6).reshape(2, 3),
        np.array([True, False]),
        np.array(["a", "bc"]),
    ]:
        back = codec.decode(json.loads(codec.dumps(value)))
        if isinstance(value, np.ndarray):
            assert back.dtype == value.dtype and back.shape == value.shape and (back == value).all()
        else:
            assert back == value and type(back) is type(value)
    back = codec.decode(json.loads(codec.dumps(frame)))
    assert back.equals(frame) and back.index.name == "row_id" and list(back.index) == [1001, 1002]
    assert np.isnan(codec.decode(json.loads(codec.dumps(float("nan")))))


def test_a_learners_subclass_arrives_as_its_plain_value():
    class Always(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    class Zero(float):
        def __sub__(self, other):
            return 0.0

    text = codec.decode(json.loads(codec.dumps(Always("spam"))))
    number = codec.decode(json.loads(codec.dumps(Zero(0.25))))
    assert type(text) is str and text != "anything"
    assert type(number) is float and number - 1.0 == -0.75


def test_a_data_point_keeps_the_fields_set_as_attributes():
    point = pd.Series({"text": "hi"})
    object.__setattr__(point, "polarity", -0.5)
    back = codec.decode(json.loads(codec.dumps(point)))
    assert back.polarity == -0.5 and back["text"] == "hi"


def test_rows_of_a_split_decode_as_the_rows_they_were_and_stay_apart():
    """Decoded data points may share one index (as ``iterrows`` rows do): each row still equals its original,
    dtype included, and a field added to one row changes no other."""
    strings = pd.DataFrame({"text": ["a b", "c"], "author": ["x", "y"]})
    mixed = pd.DataFrame({"text": ["d"], "video": [1], "label": [0]})
    rows = [row for frame in (strings, mixed) for _, row in frame.iterrows()]
    back = [codec.decode(json.loads(codec.dumps(row))) for row in rows]
    for original, decoded in zip(rows, back, strict=True):
        assert decoded.equals(original) and decoded.name == original.name and decoded.dtype == original.dtype
    back[0]["polarity"] = 0.5
    assert "polarity" not in back[1].index and list(back[1].index) == ["text", "author"]


@pytest.mark.parametrize(
    "message",
    [
        {"$": "ndarray", "dtype": "<i8", "shape": [3], "data": [1, 2]},
        {"$": "ndarray", "dtype": "<i8", "shape": [1], "data": ["x"]},
        {"$": "ndarray", "dtype": "|V8", "shape": [1], "data": [1]},
        {"$": "frame", "columns": ["a"], "index": [0, 1], "data": [[1]]},
        {"$": "series", "index": [0], "values": [1], "fields": {"__class__": 1}},
        {"$": "ref", "id": "1"},
        {"$": "pickle", "data": "gASV"},
    ],
)
def test_malformed_messages_are_refused(message):
    with pytest.raises(codec.CodecError):
        codec.decode(message, remote.make_handle)


def test_a_handle_never_decodes_where_plain_data_is_expected():
    with pytest.raises(codec.CodecError, match="handle"):
        codec.decode({"$": "ref", "id": 1, "type": "x.Y", "mro": ["x.Y"], "callable": False, "repr": "y"})


def test_functions_are_called_in_the_kernel_and_answer_plain_data(kernel):
    exec("def double(x):\n    return 2 * x\ndef stub():\n    ...\nanswer = ...", kernel)
    double = fetch("double")
    assert remote.is_handle(double) and require_function(double, "double") is double
    assert double(21) == 42 and type(double(21)) is int
    assert is_stub(fetch("stub")) and is_stub(fetch("answer")) and not is_stub(double)
    assert fetch("nothing") is codec.MISSING


def test_the_learners_exception_stays_in_the_kernel_and_is_named(kernel):
    exec("def broken(x):\n    raise ValueError('no ' + x)", kernel)
    with pytest.raises(CheckFailed, match=r"`broken` raised ValueError: 'no way' on the input"):
        call_safely(fetch("broken"), "way", name="broken", about="the input")


def test_a_change_to_the_callers_data_is_mirrored_back(kernel):
    exec("def scribble(x):\n    x['text'] = 'changed'\n    return None", kernel)
    point = pd.Series({"text": "original"})
    call_safely(fetch("scribble"), point, name="scribble")
    assert point["text"] == "changed"


@pytest.mark.parametrize(
    ("edit", "changed"),
    [
        ("pass", False),
        ("x['text'] = x['text']", False),  # the same value again is no change
        ("x['text'] = 'other'", True),
        ("x['likes'] = True", True),  # 1 -> True: a bool is not a number
        ("x['likes'] = 1.0", False),  # 1 -> 1.0: the same number
        ("x['gone'] = None", True),  # a new field
        ("x['score'] = float('nan')", False),  # another NaN: missing is missing
        ("x['score'] = 0.0", True),
    ],
)
def test_the_kernel_tells_a_changed_data_point_from_an_unchanged_one(kernel, edit, changed):
    """A map compares every data point before and after each call (quickly, when it holds plain scalars): the
    verdict must be :func:`same`'s."""
    exec(f"def touch(x):\n    {edit}\n    return -1", kernel)
    point = pd.Series({"text": "Check it", "likes": 1, "note": None, "score": float("nan")})
    reply = remote._ask({"op": "map", "refs": [fetch("touch")._course_handle], "items": [remote._arg(point)]})
    (outcome,) = reply["values"][0]
    assert ("changed" in outcome) is changed


def test_many_functions_over_the_same_points_take_one_request_and_fail_in_their_order(kernel, monkeypatch):
    from autograder.checks.lf import apply_lfs_safely

    exec(
        "from snorkel.labeling import labeling_function\n"
        "@labeling_function()\ndef says_check(x):\n    return 1 if 'check' in x.text.lower() else -1\n"
        "@labeling_function()\ndef says_song(x):\n    return 0 if 'song' in x.text.lower() else -1\n"
        "@labeling_function()\ndef votes_two(x):\n    return 2\n"
        "@labeling_function()\ndef raises(x):\n    raise KeyError('text')\n",
        kernel,
    )
    requests = []
    channel = remote._CHANNEL
    monkeypatch.setattr(
        remote, "_CHANNEL", lambda request: requests.append(request["op"]) or channel(request)
    )
    frame = pd.DataFrame({"text": ["Check it", "nice song", "hello"]})
    lfs = [fetch("says_check"), fetch("says_song")]
    expected = PandasLFApplier(lfs).apply(frame, progress_bar=False).tolist()  # a call per LF and row
    requests.clear()
    assert apply_lfs_safely(lfs, frame).tolist() == expected
    assert requests == ["map"]
    # the first LF's bad vote is the message, though a later LF raises: failures come LF by LF
    with pytest.raises(CheckFailed, match="votes_two"):
        apply_lfs_safely([fetch("says_check"), fetch("votes_two"), fetch("raises")], frame)
    with pytest.raises(CheckFailed, match=r"`raises` raised KeyError"):
        apply_lfs_safely([fetch("says_check"), fetch("raises"), fetch("votes_two")], frame)


def test_labeling_functions_arrive_as_snorkel_objects_that_ask_the_kernel(kernel):
    exec(
        "from snorkel.labeling import labeling_function\n"
        "@labeling_function()\ndef says_check(x):\n    return 1 if 'check' in x.text.lower() else -1",
        kernel,
    )
    lf = fetch("says_check")
    assert isinstance(lf, LabelingFunction) and lf.name == "says_check"
    frame = pd.DataFrame({"text": ["Check it", "nice song"]})
    assert PandasLFApplier([lf]).apply(frame, progress_bar=False).tolist() == [[SPAM], [ABSTAIN]]
    assert call_each(lf, [row for _, row in frame.iterrows()], name="says_check") == [SPAM, ABSTAIN]


def test_isinstance_knows_the_learners_class_without_running_its_methods(kernel):
    from snorkel.labeling.model import LabelModel

    exec(
        "from snorkel.labeling.model import LabelModel\nmodel = LabelModel(cardinality=2, verbose=False)",
        kernel,
    )
    model = fetch("model")
    assert isinstance(model, LabelModel) and type(model) is remote.Remote
    assert model.cardinality == 2 and remote.type_name(model) == "LabelModel"
    with pytest.raises(AttributeError):
        model.no_such_attribute  # noqa: B018


def test_kernel_side_helpers_run_next_to_the_learners_objects(kernel):
    from autograder.checks.lf import memorisation_reasons

    exec(
        "from snorkel.labeling import labeling_function\nimport pandas as pd\n"
        "@labeling_function()\ndef reads(x):\n    return 1 if x.text in set(pd.read_csv('x.csv').text) else -1",
        kernel,
    )
    # the source lives in the kernel (here: exec'd, so not readable); the reason says so either way
    reasons = memorisation_reasons(fetch("reads"), "reads")
    assert reasons and all(type(r) is str for r in reasons)


def test_the_checkers_verdict_ignores_a_learners_always_true_object(kernel):
    exec(
        "class Yes:\n    def __eq__(self, other):\n        return True\n    def __bool__(self):\n"
        "        return True\nanswer = Yes()",
        kernel,
    )
    answer = fetch("answer")
    with pytest.raises(CheckFailed):
        expect(answer == 42, "not 42")


def test_free_names_are_what_a_cell_reads_without_defining():
    tree = ast.parse(
        "from x import helper\nlf = require_lf(keyword_channel)\nfor row in rows:\n"
        "    total = [t for t in row]\nprint(lf, total, helper, len(train))"
    )
    assert free_names(tree) == ["keyword_channel", "require_lf", "rows", "train"]


def test_setup_imports_keep_only_the_import_statements():
    code = setup_imports(["import numpy as np\nfrom labeling_labs import SPAM\nsplits = load()\n", "x = (1"])
    assert code == "import numpy as np\nfrom labeling_labs import SPAM"


def test_a_decorated_lf_in_the_kernel_is_not_a_checker_object():
    @labeling_function()
    def local(x):
        return ABSTAIN

    assert not remote.is_handle(local) and remote.is_a(local, LabelingFunction)
