"""`fastnn bench`: --match narrows every group case-insensitively, groups left empty are neither
timed nor printed, and the target columns appear only with --targets."""
import pytest

from fastnn.cli import main

FAST = ["--reps", "1", "--ref-reps", "1", "--warmup", "0", "--threads", "1", "--shape", "2,3,4,4"]


def _bench(args, capsys):
    code = main(["bench"] + args + FAST)
    out, err = capsys.readouterr()
    return code, out, err


def test_match_is_case_insensitive_and_narrows_the_activations(capsys):
    code, out, _ = _bench(["--groups", "activations,affine", "--match", "RELU"], capsys)
    assert code == 0
    rows = [ln.split("|")[1].strip() for ln in out.splitlines() if ln.startswith("| ")][2:]
    assert rows == ["relu", "leaky_relu", "prelu"]
    assert "### affine" not in out                     # no affine row matches: group not shown


def test_match_narrows_every_group_and_skips_empty_ones(capsys):
    code, out, err = _bench(["--match", "Affine FWD"], capsys)
    assert code == 0
    assert out.count("### ") == 1 and "### affine" in out
    assert "| affine fwd+bwd 256x3072 -> 1024 |" in out
    assert "| relu |" not in out and "Forward+backward" not in out   # no activation table
    for group in ("conv", "pooling", "training", "losses"):
        assert f"[{group}]" not in err                 # not even timed


def test_targets_only_on_request(capsys):
    _, plain, _ = _bench(["--groups", "activations,losses", "--match", "softmax loss"], capsys)
    header = [ln for ln in plain.splitlines() if ln.startswith("| workload")][0]
    assert "target" not in header and "met" not in header and "Targets:" not in plain
    assert "| NO |" not in plain and "| yes |" not in plain
    _, with_t, _ = _bench(["--groups", "activations,losses", "--match", "softmax loss", "--targets"],
                          capsys)
    header = [ln for ln in with_t.splitlines() if ln.startswith("| workload")][0]
    assert "| target |" in header and header.rstrip().endswith("| met |")
    _, act, _ = _bench(["--groups", "activations", "--match", "tanh", "--targets"], capsys)
    assert "| target | met |" in act and "Targets:" in act


@pytest.mark.parametrize("args, message", [
    (["--match", "no such workload"], "--match 'no such workload' matches no benchmark row"),
    (["--groups", "affine", "--match", "relu"], "matches no benchmark row of --groups affine"),
])
def test_a_match_that_selects_nothing_is_an_error(args, message, capsys):
    code, out, err = _bench(args, capsys)
    assert code == 2 and message in err and "Traceback" not in err
