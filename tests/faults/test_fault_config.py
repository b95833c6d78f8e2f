"""Config fuzzing: unknown keys, wrong types and out-of-range values (YAML files, ``--set`` overrides, ``volo train``)
raise :class:`ConfigError` with one line naming the key, never another exception type or a traceback.

Code under test: volo_adapt/config.py (load_config, apply_overrides, validate), cli/train.py and the start of
volo_adapt/training/run.py (values only Lightning or the networks can judge).
"""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from volo_faults_helpers import assert_one_line_error, expect_error_or_ok, write_two_domains

from volo_adapt.config import RunConfig, load_config
from volo_adapt.errors import ConfigError

FUZZ = settings(deadline=None,  # example count: the profile (tests/conftest.py)
                 suppress_health_check=[HealthCheck.too_slow])

_DEFAULT = RunConfig().to_dict()
KNOWN_KEYS = sorted(f"{s}.{k}" for s, sec in _DEFAULT.items() if isinstance(sec, dict) for k in sec)

scalar_text = st.one_of(
    st.sampled_from(["1", "-1", "0", "0.5", "1e9", "-1e-9", ".nan", ".inf", "-.inf", "true", "no", "null", "~", "",
                     "[]", "[1, 2]", "{a: 1}", "abc", "'3'", "!!python/object:os.system ['ls']", "[", "{", ": :",
                     "999999999999999999999999", "1_000", "0x10", "- a",
                     # values PyYAML cannot build: it raised ValueError / RecursionError, not YAMLError
                     "2020-13-45", "2001-02-30", "!!int abc", "!!float x", "!!timestamp 1", "[" * 2000,
                     "!!binary ===", "!!set {a}", "&a [*a]", "!!bool foo", "1" * 5000]),
    st.text(max_size=10),
)
override_keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.sampled_from(["data", "train", "version", "nope.x",
                                                                        "data.nope", "data.image_size.x", "",
                                                                        " data.batch_size ", "a..b", "."]),
                          st.text(max_size=12))


def _check_loaded(cfg: RunConfig) -> None:
    """A config that loads is valid and round-trips."""
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    for section in ("data", "loss", "optim"):
        for k, v in cfg.to_dict()[section].items():
            if isinstance(v, float):
                assert math.isfinite(v), f"{section}.{k} = {v} was accepted"


@FUZZ
@given(key=override_keys, value=scalar_text)
def test_fuzzed_set_override_names_the_key(key, value):
    item = f"{key}={value}"
    out = expect_error_or_ok(lambda: load_config("smoke", [item]), ConfigError, None, _check_loaded)
    if isinstance(out, ConfigError):
        msg = str(out)
        head = item.split("=", 1)[0].strip().split(".")[0]  # what the parser sees (a fuzzed key may hold "=")
        assert any(x in msg for x in (head, repr(head)[1:-1], item, repr(item))), (item, msg)
        if key in KNOWN_KEYS:
            assert key in msg, (item, msg)


@FUZZ
@given(item=st.text(max_size=20))
def test_fuzzed_raw_set_strings(item):
    expect_error_or_ok(lambda: load_config(None, [item]), ConfigError, None, _check_loaded)


yaml_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(), st.text(max_size=8))
yaml_value = st.recursive(yaml_leaf, lambda c: st.one_of(st.lists(c, max_size=3),
                                                         st.dictionaries(st.text(max_size=6), c, max_size=3)),
                          max_leaves=8)
section_doc = st.dictionaries(st.sampled_from([*KNOWN_KEYS, "data.nope", "train.extra"]), yaml_value, max_size=4)


@FUZZ
@given(entries=section_doc, top=st.one_of(st.none(), st.sampled_from(["list", "scalar", "extra"])))
def test_fuzzed_yaml_file(faults_tmp, entries, top):
    """Random values under real and unknown keys in a YAML file: loads (valid) or one ConfigError naming a key."""
    doc: dict = {}
    for dotted, v in entries.items():
        s, k = dotted.split(".", 1)
        doc.setdefault(s, {})[k] = v
    path = faults_tmp("yaml") / "cfg.yaml"
    if top == "list":
        path.write_text(yaml.safe_dump([doc]))
    elif top == "scalar":
        path.write_text("42\n")
    else:
        if top == "extra":
            doc["surprise"] = 1
        path.write_text(yaml.safe_dump(doc))
    out = expect_error_or_ok(lambda: load_config(path), ConfigError, None, _check_loaded)
    if isinstance(out, ConfigError):
        msg = str(out)
        named = [k for k in [*entries, "surprise", str(path)] if k in msg or k.split(".")[0] in msg]
        assert named, msg


@FUZZ
@given(text=st.one_of(st.text(max_size=60), st.binary(max_size=60).map(lambda b: b.decode("latin-1"))),
       raw=st.binary(max_size=40))
def test_fuzzed_yaml_text_and_bytes(faults_tmp, text, raw):
    """Arbitrary text (and arbitrary bytes, mostly not UTF-8) as a config file: loads, or one ConfigError naming the
    file or a key."""
    root = faults_tmp("yamltext")
    for path, write in ((root / "t.yaml", lambda p: p.write_text(text, encoding="utf-8")),
                        (root / "b.yaml", lambda p: p.write_bytes(raw))):
        write(path)
        expect_error_or_ok(lambda path=path: load_config(path), ConfigError, None, _check_loaded)


# Counterexamples found by fuzzing and by reading PyYAML's constructors, as plain regression tests.

SET_COUNTEREXAMPLES = {
    "bad_month": "data.near=2020-13-45",  # ValueError
    "bad_day": "data.near=2001-02-30",
    "int_tag": "data.near=!!int abc",
    "float_tag": "data.far=!!float x",
    "deep": "optim.gen_lr=" + "[" * 5000,  # RecursionError
    "timestamp_tag": "data.batch_size=!!timestamp 1",  # AttributeError (found by make fuzz)
    "bool_tag": "data.hflip=!!bool foo",  # KeyError
    "huge_int": "data.far=" + "1" * 5000,  # ValueError: beyond Python's 4300-digit int conversion limit
}


@pytest.mark.parametrize("item", list(SET_COUNTEREXAMPLES.values()), ids=list(SET_COUNTEREXAMPLES))
def test_set_values_yaml_cannot_build_name_the_key(item):
    """PyYAML raised ValueError / RecursionError for these (not YAMLError): the value is now taken as the plain
    string and refused by the key's type check."""
    key = item.split("=")[0]
    with pytest.raises(ConfigError) as e:
        load_config("smoke", [item])
    assert str(e.value).startswith(f"{key}: expected ") and "\n" not in str(e.value)


@pytest.mark.parametrize("content", [b"data: {near: 2020-13-45}\n", b"data: {near: !!int abc}\n", b"[" * 5000,
                                     b"\xff\xfe\x00data: 1\n", b"data: {batch_size: !!timestamp 1}\n",
                                     b"data: {hflip: !!bool foo}\n"],
                         ids=["bad_date", "int_tag", "deep", "not_utf8", "timestamp_tag", "bool_tag"])
def test_yaml_files_yaml_cannot_build_are_one_line(tmp_path, content):
    path = tmp_path / "cfg.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).startswith(f"{path}: not a readable YAML file (") and "\n" not in str(e.value)


def test_channel_count_change_names_both_keys():
    """Fuzzing found ``--set model.channels=1`` refused by a message naming only ``loss.channel_weights``. Either
    key may be the one the user typed, so the message names both, with both values."""
    for item in ("model.channels=1", "loss.channel_weights=[1, 2]"):
        with pytest.raises(ConfigError) as e:
            load_config("smoke", [item])
        msg = str(e.value)
        assert "model.channels=" in msg and "loss.channel_weights" in msg, msg


def test_unparseable_yaml_file_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data: [unclosed\n  image_size: : 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("item", ["optim.gen_lr=.inf", "data.far=.inf", "loss.cycle_weight=.nan",
                                  "data.depth_scale=.inf", "optim.grad_clip=-.inf", "loss.identity_weight=.inf"])
def test_non_finite_numbers_are_refused(item):
    key = item.split("=")[0]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("smoke", [item])


# ---------------------------------------------------------------------------------------- volo train --set


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    return write_two_domains(tmp_path_factory.mktemp("dom"), 3)


@pytest.mark.parametrize(
    ("item", "names"),
    [
        ("train.accelerator=quantum", "train.accelerator"),
        ("train.devices=abc", "train.devices"),
        ("train.devices=0", "train.devices"),
        ("train.strategy=nope", "train.strategy"),
        ("data.image_size=36", "data.image_size"),  # the smoke generator needs multiples of 8
        ("model.gen_kwargs={levels: 3, foo: 1}", "foo"),
    ],
)
def test_train_values_only_lightning_or_the_networks_can_judge(domains, tmp_path, item, names):
    """Values the config cannot check by itself are refused before the first batch, as one ConfigError."""
    from volo_adapt.training.run import train

    a, b = domains
    cfg = load_config("smoke", [f"data.data_a=[{a}]", f"data.data_b=[{b}]", "train.max_steps=1", item])
    with pytest.raises(ConfigError) as e:
        train(cfg, tmp_path / "run", progress=False)
    assert names in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("item", ["optim.gen_lr=.inf", "nonsense", "loss.nope=1", "data.image_size=abc"])
def test_volo_train_bad_set_in_process(capsys, tmp_path, item):
    from cli.main import run

    with pytest.raises(SystemExit) as e:
        run(["train", "--config", "smoke", "--out", str(tmp_path / "run"), "--set", item])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and item.split("=")[0] in err


def test_volo_train_refused_by_lightning_no_traceback(domains, tmp_path):
    """The whole CLI path in a subprocess: exit 2, one ``error:`` line naming the key, no traceback."""
    from volo_faults_helpers import run_volo

    a, b = domains
    proc = run_volo("train", "--config", "smoke", "--data-a", a, "--data-b", b, "--out", str(tmp_path / "run"),
                    "--set", "train.accelerator=quantum")
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc.stderr, "train.accelerator", "quantum")
