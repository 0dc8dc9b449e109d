"""The checks of assignment 2 on real snorkel TFs and policies: what they accept, what they reject, what they say.

The messages are product (learners read them), so their text is pinned here.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from snorkel.augmentation import MeanFieldPolicy, RandomPolicy, transformation_function
from snorkel.preprocess.nlp import SpacyPreprocessor

from autograder.checks import CheckFailed, NotAnswered
from autograder.checks.tf import (
    apply_policy,
    check_keeps_input,
    check_synonym_result,
    check_tf_contract,
    make_point,
    policy_problems,
    require_tf,
    retrained_accuracy,
    run_tf,
    seeded,
    share_applied,
    substitute,
    text_problems,
)
from labeling_labs import HAM, SEED, SPAM
from labeling_labs.nlp import SPACY_MODEL


@pytest.fixture(scope="module")
def spacy_pre():
    return SpacyPreprocessor(text_field="text", doc_field="doc", language=SPACY_MODEL, memoize=True)


# -- TFs of every kind, right and wrong ------------------------------------------------------------


@transformation_function()
def add_bang(x):
    x = x.copy()
    x["text"] = x["text"] + "!"
    return x


@transformation_function()
def add_bang_in_place(x):
    x["text"] = x["text"] + "!"
    return x


@transformation_function()
def flip_label(x):
    x = x.copy()
    x["text"] = x["text"] + "!"
    x["label"] = 1 - x["label"]
    return x


@transformation_function()
def same_text(x):
    return x.copy()


@transformation_function()
def never(x):
    return None


@transformation_function()
def returns_string(x):
    return x["text"] + "!"


@transformation_function()
def unseeded(x):
    x = x.copy()
    x["text"] = x["text"] + " " + str(random.SystemRandom().random())
    return x


@transformation_function()
def joined_lemma(x):
    x = x.copy()
    x["text"] = x["text"] + " look_at"
    return x


@transformation_function()
def crashes(x):
    raise KeyError("doc")


@transformation_function()
def stub(x): ...


def _make_noun_tf(spacy_pre, *, in_place=False):
    @transformation_function(pre=[spacy_pre])
    def shout_a_noun(x):
        nouns = [t for t in x.doc if t.pos_ == "NOUN"]
        if not nouns:
            return None
        token = nouns[np.random.randint(len(nouns))]
        if not in_place:
            x = x.copy()
        x["text"] = x["text"][: token.idx] + token.text.upper() + x["text"][token.idx + len(token.text) :]
        return x

    return shout_a_noun


# -- require_tf, run_tf --------------------------------------------------------------------------------


def test_require_tf_accepts_a_tf_and_rejects_stub_and_plain_function():
    assert require_tf(add_bang, "add_bang") is add_bang
    with pytest.raises(NotAnswered, match=r"^Not answered yet: `stub` is still the placeholder"):
        require_tf(stub, "stub")

    def plain(x):
        return x

    with pytest.raises(CheckFailed) as info:
        require_tf(plain, "plain")
    assert str(info.value) == (
        "`plain` is a function, not a transformation function. "
        "Did you forget the `@transformation_function(...)` line above `def`?"
    )


def test_run_tf_rejects_a_string_and_names_the_comment():
    with pytest.raises(CheckFailed) as info:
        run_tf(returns_string, make_point("hello"), name="returns_string")
    assert str(info.value) == (
        "`returns_string` returned 'hello!' (a str) for the comment 'hello'. A TF returns a data point like the one "
        "it was given (a pandas Series), or None when it cannot apply."
    )


def test_run_tf_turns_an_exception_into_a_message():
    with pytest.raises(CheckFailed) as info:
        run_tf(crashes, make_point("hello"), name="crashes")
    assert str(info.value) == "`crashes` raised KeyError: \"'doc'\" on the comment 'hello'."


# -- the contract ------------------------------------------------------------------------------------------


def test_a_right_tf_passes_the_contract():
    point = make_point("Nice song", label=SPAM)
    result = check_tf_contract(add_bang, point, name="add_bang", applies=True)
    assert result["text"] == "Nice song!" and result["label"] == SPAM
    assert point["text"] == "Nice song"


def test_contract_label_flip():
    with pytest.raises(CheckFailed) as info:
        check_tf_contract(flip_label, make_point("Nice song", label=HAM), name="flip_label", applies=None)
    assert str(info.value) == (
        "`flip_label` changed the label from 0 to 1 for the comment 'Nice song'. "
        "A TF for data augmentation must preserve the label."
    )


def test_contract_unchanged_text():
    with pytest.raises(CheckFailed) as info:
        check_tf_contract(same_text, make_point("Nice song"), name="same_text", applies=None)
    assert str(info.value) == (
        "`same_text` returned the text unchanged for the comment 'Nice song'. "
        "When a TF cannot change a point it returns None."
    )


def test_contract_none_where_it_should_apply_and_a_point_where_it_should_not():
    with pytest.raises(CheckFailed) as info:
        check_tf_contract(never, make_point("Nice song"), name="never", applies=True)
    assert str(info.value) == (
        "`never` returned None for the comment 'Nice song', where it should apply. "
        "Does it look at the right part-of-speech tags or entities in `x.doc`?"
    )
    assert check_tf_contract(never, make_point("Nice song"), name="never", applies=None) is None
    with pytest.raises(CheckFailed) as info:
        check_tf_contract(add_bang, make_point(""), name="add_bang", applies=False)
    assert str(info.value) == (
        "`add_bang` returned a point with text '!' for the comment '', where it cannot apply. "
        "A TF returns None when it cannot apply."
    )


def test_contract_same_seed_same_output():
    with pytest.raises(
        CheckFailed,
        match=r"^`unseeded` gave '.*' and then '.*' for the comment 'Nice song' with the "
        r"same seed\. Draw random choices from `random` or `np.random` only\.$",
    ):
        check_tf_contract(unseeded, make_point("Nice song"), name="unseeded", applies=None)


def test_contract_readable_text():
    with pytest.raises(CheckFailed) as info:
        check_tf_contract(joined_lemma, make_point("Nice song"), name="joined_lemma", applies=None)
    assert str(info.value) == (
        "`joined_lemma` returned a point for the comment 'Nice song', but its text has WordNet's joined words such "
        "as 'look_at'; replace '_' with a space."
    )


def test_contract_in_place_edit_without_a_preprocessor():
    with pytest.raises(CheckFailed) as info:
        check_tf_contract(add_bang_in_place, make_point("Nice song"), name="add_bang_in_place", applies=None)
    assert str(info.value) == (
        "`add_bang_in_place` changed the data point it was given (`text` went from 'Nice song' to 'Nice song!'). "
        "A TF must leave its input alone: the spaCy preprocessor hands every TF the same cached point for the same "
        "comment. Start with `x = x.copy()` and edit the copy."
    )


def test_text_problems():
    assert text_problems("I like it", "I love it") == []
    assert text_problems("", "I love it") == ["its text is empty"]
    assert text_problems(None, "I love it") == ["its text is None, not a string"]
    assert text_problems("x", "a much longer comment than that") == [
        "its text 'x' is not the same comment any more (length 31 -> 1)"
    ]
    # most of the words must survive: one or a few edited is a transformation, all of them glued is not
    assert text_problems("I really like it", "I love it") == []
    assert text_problems("you love your dog, you know", "I love my dog, I know") == []
    assert text_problems("IXX XXloveXX XXit", "I love it") == [
        "its text 'IXX XXloveXX XXit' keeps only 0% of the comment's words: a TF edits a word or a few, "
        "it does not rewrite the comment"
    ]
    assert text_problems(
        "http://example.com/a-long-link-kept", "see this now http://example.com/a-long-link-kept"
    )[0].endswith(
        "keeps only 25% of the comment's words: a TF edits a word or a few, it does not rewrite the comment"
    )
    # an underscore the original already had is not an artefact
    assert text_problems("see my_channel now", "see my_channel") == []


# -- spaCy and the memoized preprocessor ------------------------------------------------------------


def test_in_place_edits_leak_through_the_memoized_preprocessor(spacy_pre):
    """Why the contract forbids in-place edits: the cached point is shared between calls."""
    spacy_pre.reset_cache()
    leaky = _make_noun_tf(spacy_pre, in_place=True)
    point = make_point("I love this song")
    with seeded():
        first = leaky(point)
    with seeded():
        second = leaky(point)
    assert first["text"] == "I love this SONG"
    assert spacy_pre(point)["text"] == "I love this SONG"  # the cache now holds the edited text
    assert second["text"] == "I love this SONG"
    spacy_pre.reset_cache()


def test_keeps_input_sees_the_doc_and_catches_an_in_place_edit(spacy_pre):
    spacy_pre.reset_cache()
    point = make_point("I love this song")
    check_keeps_input(_make_noun_tf(spacy_pre), point, name="shout_a_noun")
    with pytest.raises(
        CheckFailed,
        match=r"^`shout_a_noun` changed the data point it was given \(`text` went from "
        r"'I love this song' to 'I love this SONG'\)",
    ):
        check_keeps_input(_make_noun_tf(spacy_pre, in_place=True), point, name="shout_a_noun")
    spacy_pre.reset_cache()


def test_keeps_input_is_not_fooled_by_a_cache_the_tf_already_corrupted(spacy_pre):
    """After an in-place TF edited the cached point, calling it again changes nothing; the check parses afresh."""
    spacy_pre.reset_cache()
    leaky = _make_noun_tf(spacy_pre, in_place=True)
    point = make_point("I love this song")
    with seeded():
        leaky(point)
    assert spacy_pre(point)["text"] == "I love this SONG"
    with pytest.raises(CheckFailed, match=r"^`shout_a_noun` changed the data point it was given"):
        check_keeps_input(leaky, point, name="shout_a_noun")
    assert spacy_pre.memoize is True
    spacy_pre.reset_cache()


def test_synonym_result(spacy_pre):
    point = make_point("I love this song")
    doc = spacy_pre(point).doc

    def lookup(word):
        return {"song": "vocal", "love": "adore"}.get(word)

    good = make_point("I love this vocal")
    check_synonym_result(good, point, doc, name="tf", pos_tag="NOUN", lookup=lookup)
    wrong_pos = make_point("I adore this song")
    with pytest.raises(CheckFailed) as info:
        check_synonym_result(wrong_pos, point, doc, name="tf", pos_tag="NOUN", lookup=lookup)
    assert str(info.value) == (
        "`tf` turned 'I love this song' into 'I adore this song', which is not one NOUN of the comment replaced by "
        "its synonym. Pick among the tokens whose `pos_` is 'NOUN'."
    )


def test_synonym_result_counts_whole_words_only(spacy_pre):
    point = make_point("Shakira u are so weird")
    doc = spacy_pre(point).doc
    nouns = [t.text for t in doc if t.pos_ == "NOUN"]
    if "u" not in nouns:
        pytest.skip("this spaCy model does not tag 'u' as a noun")
    result = make_point("Shakira uracil are so weird")
    check_synonym_result(result, point, doc, name="tf", pos_tag="NOUN", lookup=lambda w: "uracil")


def test_substitute_swaps_a_global_and_restores_it(spacy_pre):
    namespace = {"np": np, "transformation_function": transformation_function}
    exec(
        "@transformation_function()\n"
        "def tf(x):\n"
        "    x = x.copy()\n"
        "    x['text'] = helper(x['text'])\n"
        "    return x\n",
        namespace,
    )
    namespace["helper"] = str.upper
    tf = namespace["tf"]
    with substitute(tf, "helper", str.title):
        assert tf(make_point("nice song"))["text"] == "Nice Song"
    assert namespace["helper"] is str.upper
    with substitute(tf, "missing_name", len):
        assert namespace["missing_name"] is len
    assert "missing_name" not in namespace


def test_share_applied():
    frame = pd.DataFrame([make_point("a b c d e"), make_point("short")])

    @transformation_function()
    def long_only(x):
        if len(x["text"].split()) < 5:
            return None
        x = x.copy()
        x["text"] = x["text"] + "!"
        return x

    share, pairs = share_applied(long_only, frame, name="long_only")
    assert share == 0.5 and len(pairs) == 1 and pairs[0][1]["text"] == "a b c d e!"


# -- policies -----------------------------------------------------------------------------------------------


ASKED = dict(n_tfs=5, sequence_length=2, n_per_original=2, keep_original=True)
P = [0.05, 0.05, 0.3, 0.3, 0.3]


def test_policy_problems_accept_the_policy_asked_for():
    assert (
        policy_problems(
            RandomPolicy(5, sequence_length=2, n_per_original=2, keep_original=True),
            "random_policy",
            kind=RandomPolicy,
            **ASKED,
        )
        == []
    )
    assert (
        policy_problems(
            MeanFieldPolicy(5, sequence_length=2, p=P, n_per_original=2, keep_original=True),
            "mean_field_policy",
            kind=MeanFieldPolicy,
            p=P,
            **ASKED,
        )
        == []
    )


def test_policy_problems_name_each_difference():
    policy = RandomPolicy(5, sequence_length=1, n_per_original=2, keep_original=False)
    assert policy_problems(policy, "random_policy", kind=RandomPolicy, **ASKED) == [
        "`random_policy` has sequence_length=1; the question asks for sequence_length=2.",
        "`random_policy` has keep_original=False; the question asks for keep_original=True.",
    ]
    uniform = MeanFieldPolicy(5, sequence_length=2, n_per_original=2, keep_original=True)
    assert policy_problems(uniform, "mean_field_policy", kind=MeanFieldPolicy, p=P, **ASKED) == [
        "`mean_field_policy` has p=None; the question asks for p=[0.05, 0.05, 0.3, 0.3, 0.3]."
    ]
    assert policy_problems(uniform, "random_policy", kind=RandomPolicy, **ASKED) == [
        "`random_policy` is a MeanFieldPolicy, not a RandomPolicy."
    ]
    with pytest.raises(NotAnswered):
        policy_problems(..., "random_policy", kind=RandomPolicy, **ASKED)


def test_apply_policy_is_seeded_and_reports_a_crashing_tf():
    frame = pd.DataFrame([make_point(f"comment number {i}") for i in range(6)])
    policy = RandomPolicy(2, sequence_length=1, n_per_original=2, keep_original=True)
    first = apply_policy([add_bang, never], policy, frame)
    again = apply_policy([add_bang, never], policy, frame)
    assert list(first["text"]) == list(again["text"])
    assert len(frame) <= len(first) < 3 * len(frame)  # copies whose TF returned None are dropped
    with pytest.raises(CheckFailed) as info:
        apply_policy([crashes], RandomPolicy(1), frame)
    assert str(info.value) == (
        "Applying your TFs with your policy raised KeyError: \"'doc'\". "
        "Fix the TF that fails first (its own test cell names the input)."
    )


# -- models --------------------------------------------------------------------------------------------------


def test_retrained_accuracy_refits_a_copy():
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from labeling_labs import load_spam_splits

    train, _, _, test = load_spam_splits(train_labels=True)
    small = train.sample(150, random_state=SEED)
    model = make_pipeline(CountVectorizer(), LogisticRegression(solver="liblinear", random_state=SEED))
    fitted = model.fit(small["text"], small["label"])
    expected = fitted.score(test["text"], test["label"])
    assert retrained_accuracy(fitted, small, test, name="model") == pytest.approx(expected)
    # the learner's fitted model is untouched
    assert fitted.score(test["text"], test["label"]) == expected
    with pytest.raises(CheckFailed, match=r"^Retraining `model`'s recipe raised TypeError"):
        retrained_accuracy("not a model", small, test, name="model")


# -- the same verdicts where grading runs them: in the checker, the TFs behind handles ------------------------


@pytest.fixture
def kernel(monkeypatch):
    """A namespace playing the learner's kernel, and the checker's channel to it (as in ``test_checker``)."""
    import json

    from autograder.checks import bridge, remote

    namespace: dict = {}
    monkeypatch.setattr(bridge, "_LOCAL_NAMESPACE", namespace)
    remote.set_channel(lambda request: json.loads(bridge.serve(json.dumps(request))))
    yield namespace
    remote.set_channel(None)
    bridge._REFS.clear()


def _seen_from_the_checker(kernel, **objects):
    """The learner's objects as a test cell in the checker receives them: handles (or plain data)."""
    from autograder.checks import codec, remote

    kernel.update(objects)
    reply = remote._ask({"op": "names", "names": list(objects)})
    return [codec.decode(reply["values"][name], remote.make_handle) for name in objects]


def _verdict(check, *args, **kwargs):
    try:
        return ("ok", check(*args, **kwargs))
    except CheckFailed as failure:
        return ("failed", str(failure))


def _in_the_kernel(check, *args, **kwargs):
    """``check(...)`` as the learner's own kernel runs it: no checker channel."""
    from autograder.checks import remote

    channel = remote.channel()
    remote.set_channel(None)
    try:
        return check(*args, **kwargs)
    finally:
        remote.set_channel(channel)


CONTRACT_CASES = [
    (add_bang, "Nice song", True),
    (add_bang, "", False),
    (add_bang_in_place, "Nice song", None),
    (flip_label, "Nice song", None),
    (same_text, "Nice song", None),
    (never, "Nice song", True),
    (returns_string, "hello", None),
    (joined_lemma, "Nice song", None),
    (crashes, "hello", None),
    (unseeded, "Nice song", None),
]


def test_the_contract_gives_the_same_verdicts_in_the_checker_as_in_the_kernel(kernel):
    from autograder.checks import remote

    for tf, text, applies in CONTRACT_CASES:
        point = make_point(text, label=SPAM)
        local = _in_the_kernel(_verdict, check_tf_contract, tf, point, name=tf.name, applies=applies)
        (handle,) = _seen_from_the_checker(kernel, tf=tf)
        assert remote.is_handle(handle) and isinstance(handle, type(tf).__mro__[1])
        checked = _verdict(check_tf_contract, handle, point, name=tf.name, applies=applies)
        if tf is unseeded:
            assert local[0] == checked[0] == "failed" and "with the same seed" in checked[1]
        elif local[0] == "ok" and local[1] is not None:
            assert checked[0] == "ok" and checked[1].equals(local[1])
        else:
            assert checked == local, tf.name
        assert point["text"] == text  # the caller's point is never changed


def test_an_in_place_edit_through_the_memoized_preprocessor_is_seen_from_the_checker(kernel, spacy_pre):
    from autograder.checks.tf import reset_caches

    leaky = _make_noun_tf(spacy_pre, in_place=True)
    (handle,) = _seen_from_the_checker(kernel, leaky=leaky)
    reset_caches(handle)
    point = make_point("I love this song")
    with pytest.raises(
        CheckFailed, match=r"^`shout_a_noun` changed the data point it was given \(`text` went from"
    ):
        check_keeps_input(handle, point, name="shout_a_noun")
    with seeded():
        leaky(point)
    assert spacy_pre(point)["text"] == "I love this SONG"  # the kernel's cache holds the edit...
    reset_caches(handle)  # ... until a test cell empties it, from the checker
    assert spacy_pre(point)["text"] == "I love this song"
    spacy_pre.reset_cache()


def test_many_points_take_one_request_to_the_kernel(kernel, monkeypatch):
    from autograder.checks import remote
    from autograder.checks.tf import check_tf_contracts

    (handle,) = _seen_from_the_checker(kernel, add_bang=add_bang)
    requests = []
    channel = remote.channel()
    monkeypatch.setattr(
        remote, "_CHANNEL", lambda request: requests.append(request["op"]) or channel(request)
    )
    points = [make_point(f"comment {i}") for i in range(30)]
    results = check_tf_contracts(handle, points, name="add_bang", applies=True)
    assert [r["text"] for r in results] == [f"comment {i}!" for i in range(30)]
    share, pairs = share_applied(handle, pd.DataFrame(points), name="add_bang")
    assert share == 1.0 and len(pairs) == 30
    assert requests == ["kernel", "kernel"]


def test_a_stand_in_table_replaces_a_helper_the_tf_calls_and_falls_back_to_it(kernel):
    from autograder.checks.tf import tf_trials

    namespace = {"transformation_function": transformation_function, "helper": str.upper}
    exec(
        "@transformation_function()\n"
        "def tf(x):\n"
        "    x = x.copy()\n"
        "    x['text'] = ' '.join(helper(w) for w in x['text'].split())\n"
        "    return x\n",
        namespace,
    )
    (handle,) = _seen_from_the_checker(kernel, tf=namespace["tf"])
    trials = tf_trials(handle, (make_point("nice song"),), SEED, False, {"helper": {("nice",): "fine"}})
    assert trials[0]["first"]["value"]["text"] == "fine SONG"
    assert namespace["helper"] is str.upper


def test_policies_models_and_synonyms_through_the_checker(kernel):
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from autograder.checks.tf import call_many
    from labeling_labs import load_spam_splits

    frame = pd.DataFrame([make_point(f"comment number {i}") for i in range(6)])
    policy = RandomPolicy(2, sequence_length=1, n_per_original=2, keep_original=True)
    local = _in_the_kernel(apply_policy, [add_bang, never], policy, frame)
    tf_a, tf_b, remote_policy = _seen_from_the_checker(kernel, a=add_bang, b=never, policy=policy)
    assert policy_problems(remote_policy, "random_policy", kind=RandomPolicy, **ASKED) == [
        "`random_policy` has n_tfs=2; the question asks for n_tfs=5.",
        "`random_policy` has sequence_length=1; the question asks for sequence_length=2.",
    ]
    asked = {**ASKED, "n_tfs": 2, "sequence_length": 1}
    assert policy_problems(remote_policy, "random_policy", kind=RandomPolicy, **asked) == []
    assert list(apply_policy([tf_a, tf_b], remote_policy, frame)["text"]) == list(local["text"])

    train, _, _, test = load_spam_splits(train_labels=True)
    small = train.sample(150, random_state=SEED)
    fitted = make_pipeline(CountVectorizer(), LogisticRegression(solver="liblinear", random_state=SEED))
    fitted.fit(small["text"], small["label"])
    (model,) = _seen_from_the_checker(kernel, model=fitted)
    expected = _in_the_kernel(retrained_accuracy, fitted, small, test, name="model")
    assert retrained_accuracy(model, small, test, name="model") == expected

    def synonym(word, pos):
        if word == "boom":
            raise ValueError("no")
        return {"song": "vocal"}.get(word)

    (remote_synonym,) = _seen_from_the_checker(kernel, synonym=synonym)
    assert call_many(remote_synonym, [("song", "n"), ("x", "v")], name="synonym") == ["vocal", None]
    with pytest.raises(CheckFailed) as info:
        call_many(remote_synonym, [("song", "n"), ("boom", "v")], name="synonym", about=lambda c: repr(c))
    assert str(info.value) == "`synonym` raised ValueError: 'no' on ('boom', 'v')."


# -- what the hidden tests now see: fields, held-out comments, seeds, glued tokens, typed-in numbers ----------


@transformation_function()
def only_text_and_label(x):
    return pd.Series({"text": x["text"] + "!", "label": x["label"]})


def test_a_point_that_loses_its_other_fields_breaks_the_contract():
    with pytest.raises(CheckFailed) as info:
        check_tf_contract(only_text_and_label, make_point("Nice song"), name="tf", applies=None)
    assert str(info.value) == (
        "`tf` returned a point whose `author` differs from the one it was given, for the comment 'Nice song'. "
        "A TF changes the text only: start from `x.copy()`, which keeps every other field."
    )


def test_held_out_comments_are_named_by_number_never_quoted():
    from autograder.checks.tf import check_tf_contracts

    secret = "A held-out comment nobody may read"
    points = [make_point("visible one"), make_point(secret), make_point(secret + " again")]
    for tf in [add_bang_in_place, flip_label, same_text, unseeded, returns_string]:
        with pytest.raises(CheckFailed) as info:
            check_tf_contracts(tf, points[1:], name=tf.name, applies=None, held_out=True)
        assert "held-out comment 1" in str(info.value) and "held-out" in str(info.value)
        assert "nobody" not in str(info.value), str(info.value)
    with pytest.raises(CheckFailed) as info:
        check_tf_contracts(add_bang, points, name="add_bang", applies=False, held_out=[False, True, True])
    assert "'visible one'" in str(info.value)  # the visible comment is still quoted
    with pytest.raises(CheckFailed) as info:
        check_tf_contracts(
            add_bang, points[::-1], name="add_bang", applies=False, held_out=[True, True, False]
        )
    assert str(info.value) == (
        "`add_bang` returned a point for held-out comment 1, where it cannot apply. "
        "A TF returns None when it cannot apply."
    )


def test_a_seed_per_point_shows_whether_a_random_choice_varies():
    from autograder.checks.tf import check_tf_contracts

    @transformation_function()
    def pick_a_word(x):
        words = x["text"].split()
        x = x.copy()
        x["text"] = x["text"] + " " + words[np.random.randint(len(words))]
        return x

    point = make_point("one two three four")
    results = check_tf_contracts(pick_a_word, [point] * 12, name="tf", applies=True, seed=list(range(12)))
    assert len({r["text"] for r in results}) > 1
    with pytest.raises(ValueError, match="one seed per point"):
        check_tf_contracts(pick_a_word, [point] * 2, name="tf", applies=True, seed=[1])


def test_an_underscore_the_comment_had_is_not_a_wordnet_lemma():
    old = "Win at http://example.com/free_gift?id=41 now"
    assert text_problems("Win at http://example.com/free_gift?id=42 now", old) == []
    assert text_problems("Win at http://example.com/free_gift?id=41 look_at", old) == [
        "its text has WordNet's joined words such as 'look_at'; replace '_' with a space"
    ]
    assert text_problems("x", "a much longer comment than that", quote=False) == [
        "its text is not the same comment any more (length 31 -> 1)"
    ]


def test_synonym_result_must_be_one_token_replaced_in_place_glued_ones_included(spacy_pre):
    point = make_point("Samsung 4G phones at my channel")
    doc = spacy_pre(point).doc
    if [t.text for t in doc if t.pos_ == "NOUN"][:1] != ["G"]:
        pytest.skip("this spaCy model does not split '4G' into a number and a noun")
    synonyms = {"G": "gram", "phones": "telephone"}.get
    glued = make_point("Samsung 4gram phones at my channel")
    check_synonym_result(glued, point, doc, name="tf", pos_tag="NOUN", lookup=synonyms)
    both = make_point("Samsung 4gram telephone at my channel")
    with pytest.raises(CheckFailed, match=r"which is not one NOUN of the comment replaced by its synonym"):
        check_synonym_result(both, point, doc, name="tf", pos_tag="NOUN", lookup=synonyms)
    with pytest.raises(CheckFailed) as info:
        check_synonym_result(
            both, point, doc, name="tf", pos_tag="NOUN", lookup=synonyms, label="held-out comment 4"
        )
    assert "Samsung" not in str(info.value) and "held-out comment 4" in str(info.value)


def test_source_comments_models_and_in_place_tfs_in_both_places(kernel, spacy_pre):
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from autograder.checks.tf import editing_input, model_accuracy, source_of

    frame = pd.DataFrame([make_point("free money now", label=SPAM), make_point("lovely song", label=HAM)] * 3)
    fitted = make_pipeline(CountVectorizer(), LogisticRegression(solver="liblinear", random_state=SEED))
    fitted.fit(frame["text"], frame["label"])
    leaky = _make_noun_tf(spacy_pre, in_place=True)
    good = _make_noun_tf(spacy_pre)
    model, tf_leaky, tf_good, tf_bang = _seen_from_the_checker(
        kernel, model=fitted, a=leaky, b=good, c=add_bang
    )
    points = [make_point("I love this song")]
    for run, tfs, m in [
        (_in_the_kernel, (leaky, good, add_bang), fitted),
        (lambda f, *a, **k: f(*a, **k), (tf_leaky, tf_good, tf_bang), model),
    ]:
        assert run(editing_input, tfs, ["leaky", "good", "add_bang"], points) == ["leaky"]
        assert run(model_accuracy, m, frame, name="model") == 1.0
        assert 'x["text"] = x["text"] + "!"' in run(source_of, tfs[2])
    spacy_pre.reset_cache()


def test_typed_in_reads_the_last_assignment_of_the_notebook(monkeypatch):
    from autograder.checks import tf

    for source, typed in [
        ("n = 304", True),
        ("n = 3 * 200 - 296", True),
        ("n = int(304)", True),
        ("n = 3 * len(sample) - len(augmented)", False),
        ("x = 1", False),
    ]:
        monkeypatch.setattr(
            tf, "assignment_source", lambda name, source=source: source if "n =" in source else None
        )
        assert tf.typed_in("n") is typed, source


def test_typed_in_reads_the_history_of_a_notebook_run_without_ipython():
    """``make mutants`` runs the notebook in a plain namespace: its ``In`` is the history the check reads there."""
    from autograder.checks import bridge, tf

    namespace = {"In": ["", "sample = list(range(200))", "n = 3 * len(sample) - 296"]}
    bridge.use_namespace(namespace)
    try:
        assert tf.typed_in("n") is False
        namespace["In"].append("n = 304")
        assert tf.typed_in("n") is True
        assert tf.assignment_source("sample") == "sample = list(range(200))"
    finally:
        bridge.use_namespace(None)


def test_a_learners_exception_on_a_held_out_comment_is_named_without_its_message():
    from autograder.checks.tf import check_tf_contracts

    @transformation_function()
    def quotes_its_input(x):
        raise KeyError(x["text"].split()[0])

    @transformation_function()
    def returns_its_words(x):
        return x["text"].split()

    secret = [make_point("Shakira sings a held-out song")]
    for tf in [quotes_its_input, returns_its_words]:
        with pytest.raises(CheckFailed) as info:
            check_tf_contracts(tf, secret, name="tf", applies=None, held_out=True)
        assert "held-out comment 1" in str(info.value) and "Shakira" not in str(info.value), str(info.value)
        with pytest.raises(CheckFailed) as info:
            share_applied(tf, pd.DataFrame(secret), name="tf", held_out=True)
        assert "held-out comment 1" in str(info.value) and "Shakira" not in str(info.value), str(info.value)
    with pytest.raises(CheckFailed) as info:  # a visible comment's error is shown whole
        check_tf_contracts(quotes_its_input, secret, name="tf", applies=None)
    assert str(info.value).startswith("`tf` raised KeyError: ") and "'Shakira sings" in str(info.value)
