"""Untrusted files cannot make a loader allocate more than they hold, nor block it.

Peak memory is measured in a child process (its ``VmHWM``, peak resident set), so a
regression shows as a failed bound here instead of gigabytes in the test runner.  Loads of
FIFOs and ``/dev/zero`` run in a child with a timeout, so a regression cannot hang the suite.
"""
import io
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from helpers import CHILD_CWD, child_env, refusal_code

MB = 1 << 20


def _child(code, timeout=120):
    """Run ``code`` in a fresh interpreter with fastnn importable; return (stdout lines, peak
    RSS in bytes of the child).  The code prints what the test asserts on."""
    # VmHWM is the peak RSS of this process image alone; ru_maxrss would also count the
    # parent's RSS at fork time (Linux carries it across exec), i.e. the test runner's
    script = textwrap.dedent(code) + textwrap.dedent("""
        import resource, sys
        try:
            with open("/proc/self/status") as f:
                peak = [int(line.split()[1]) for line in f if line.startswith("VmHWM:")][0]
        except (OSError, IndexError):
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            peak = peak // 1024 if sys.platform == "darwin" else peak
        print("MAXRSS", peak)
        """)
    env = child_env(OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=CHILD_CWD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    rss = int(lines[-1].split()[1]) * 1024
    return lines[:-1], rss


def _baseline_rss():
    return _child("import numpy, fastnn.checkpoint, fastnn.data.datasets\n")[1]


# ------------------------------------------------------------------ checkpoints

def _npy_header(shape, descr="<f4"):
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(hdr, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return hdr.getvalue()


def _crafted_checkpoint(path, count=3 * 2**28, compress=zipfile.ZIP_STORED):
    """A ~250-byte .npz whose ``w.npy`` declares ``count`` float32 and whose zip size fields
    are patched to agree with that declaration (3 GiB by default)."""
    header = _npy_header((count,))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as zf:
        zf.writestr("w.npy", header + b"\0" * 16)
    raw = bytearray(buf.getvalue())
    declared = len(header) + 4 * count
    local_csize = struct.unpack_from("<I", raw, 18)[0]
    cd = raw.index(b"PK\x01\x02")
    if compress == zipfile.ZIP_STORED:
        struct.pack_into("<II", raw, 18, declared, declared)        # local header
        struct.pack_into("<II", raw, cd + 20, declared, declared)   # central directory
    else:                                   # keep the real compressed size, lie about the rest
        struct.pack_into("<II", raw, 18, local_csize, declared)
        struct.pack_into("<II", raw, cd + 20, local_csize, declared)
    with open(path, "wb") as f:
        f.write(bytes(raw))
    return len(raw)


@pytest.mark.parametrize("compress", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED],
                         ids=["stored", "deflated"])
def test_tiny_checkpoint_declaring_3gib_is_refused_without_allocating(tmp_path, compress):
    path = tmp_path / "model.npz"
    size = _crafted_checkpoint(path, compress=compress)
    assert size < 400
    lines, rss = _child(refusal_code(
        "from fastnn.checkpoint import CheckpointError, load_params",
        f"load_params({str(path)!r})", "CheckpointError"))
    assert rss < 200 * MB, f"peak RSS {rss / MB:.0f} MB for a {size}-byte file"
    assert lines and lines[0].startswith("REFUSED"), lines
    assert "w.npy" in lines[0] or "'w'" in lines[0]
    assert "model.npz" in lines[0]


def test_tiny_checkpoint_refused_through_train_resume(tmp_path, capsys):
    """``fastnn train --resume`` reads interrupted.npz through the same reader."""
    from fastnn.cli import main
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--model", "mlp", "--output-dir", str(out),
                 "--quiet", "--no-plots"]) == 0
    capsys.readouterr()
    _crafted_checkpoint(out / "interrupted.npz")
    lines, rss = _child(f"""
        import sys
        from fastnn.cli import main
        code = main(["train", "--resume", "--output-dir", {str(out)!r}, "--quiet"])
        print("EXIT", code)
        """)
    assert lines[-1] == "EXIT 2", lines     # a one-line CLI error
    assert rss < 200 * MB, f"peak RSS {rss / MB:.0f} MB"


@pytest.mark.slow
def test_deflated_zeros_member_peaks_near_the_array_size(tmp_path):
    """A real deflated member of 256 MiB of zeros (a ~250 KB file) loads at about the array's
    size, not three times it."""
    n = 64 * MB                                   # float32: 256 MiB
    path = tmp_path / "zeros.npz"
    lines, _ = _child(f"""
        import numpy as np, zipfile
        with zipfile.ZipFile({str(path)!r}, "w", zipfile.ZIP_DEFLATED) as zf:
            with zf.open("w.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(
                    f, {{"descr": "<f4", "fortran_order": False, "shape": ({n},)}})
                block = bytes(1 << 24)
                for _ in range({4 * n} // len(block)):
                    f.write(block)
        """)
    assert os.path.getsize(path) < 2 * MB
    base = _baseline_rss()
    lines, rss = _child(f"""
        from fastnn.checkpoint import load_params
        arrays, _ = load_params({str(path)!r})
        w = arrays["w"]
        print(w.shape[0], w.dtype, int(w.any()))
        """)
    assert lines == [f"{n} float32 0"]
    array = 4 * n
    print(f"peak {(rss - base) / MB:.0f} MB above baseline for a {array / MB:.0f} MB array")
    assert rss - base < 1.5 * array, (f"peak {(rss - base) / MB:.0f} MB above baseline for a "
                                      f"{array / MB:.0f} MB array")


def test_real_checkpoints_still_load_after_chunked_read(tmp_path):
    from fastnn.checkpoint import load_params, save_params
    import fastnn._files as files
    rng = np.random.default_rng(0)
    params = {"a": rng.standard_normal((300, 70)).astype(np.float32),
              "f": np.asfortranarray(rng.standard_normal((33, 5))),
              "c": (rng.standard_normal(9) + 1j).astype(np.complex64),
              "e": np.zeros((0, 4), np.float64), "s": np.array(3, np.int64)}
    path = save_params(tmp_path / "p", params, meta={"k": 1})
    old = files.READ_CHUNK
    loaded, meta = load_params(path)
    assert old == files.READ_CHUNK
    assert meta == {"k": 1}
    for k, v in params.items():
        assert loaded[k].dtype == v.dtype and loaded[k].shape == v.shape
        np.testing.assert_array_equal(loaded[k], v)


def test_read_chunked_assembles_pieces_in_order():
    from fastnn._files import read_chunked
    data = bytes(range(256)) * 41
    out = read_chunked(io.BytesIO(data), len(data), chunk=100)
    assert out.dtype == np.uint8 and bytes(out) == data
    short = read_chunked(io.BytesIO(data[:50]), 1 << 40, chunk=7)
    assert bytes(short) == data[:50]


# ------------------------------------------------------------------ CIFAR pickles

def _cifar_folder(tmp_path, bad_batch):
    folder = tmp_path / "cifar"
    folder.mkdir()
    good = pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}, protocol=2)
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                 "data_batch_5", "test_batch"]:
        (folder / name).write_bytes(good)
    (folder / "data_batch_1").write_bytes(bad_batch)
    return folder


@pytest.mark.parametrize("blob, what", [
    pytest.param(b"\x80\x02}r\x00\x00\x00\x10.", "LONG_BINPUT", id="long_binput_2e28"),
    pytest.param(b"\x80\x02}r\xff\xff\xff\x7f.", "LONG_BINPUT", id="long_binput_2e31"),
    pytest.param(b"\x80\x02}p268435456\n.", "PUT", id="text_put_2e28"),
    pytest.param(b"\x80\x02}q\x05.", "BINPUT", id="binput_ahead"),
    pytest.param(b"\x80\x02}q\x00j\x00\x00\x00\x10.", "LONG_BINGET", id="get_unstored"),
    pytest.param(b"\x80\x04\x95\xff\xff\xff\xff\x00\x00\x00\x00}.", "FRAME",
                 id="frame_4gib"),
])
def test_tiny_cifar_batch_with_absurd_counts_is_refused_cheaply(tmp_path, blob, what):
    folder = _cifar_folder(tmp_path, blob)
    lines, rss = _child(refusal_code(
        "from fastnn.data.datasets import DatasetError, load_cifar10",
        f"load_cifar10({str(folder)!r})", "DatasetError"))
    assert rss < 200 * MB, f"peak RSS {rss / MB:.0f} MB for a {len(blob)}-byte batch"
    assert lines and lines[0].startswith("REFUSED"), lines
    assert "data_batch_1" in lines[0] and what in lines[0], lines[0]


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_real_pickles_pass_the_memo_checks(tmp_path, protocol):
    from fastnn.data.datasets import load_cifar10
    rng = np.random.default_rng(1)
    folder = tmp_path / "c"
    folder.mkdir()
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
             "test_batch"]
    shared = ["x"] * 3                           # repeated objects make memo GETs
    for i, name in enumerate(names):
        d = {"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8),
             "labels": [i % 10, 1, 2], "shared": [shared, shared]}
        (folder / name).write_bytes(pickle.dumps(d, protocol=protocol))
    got = load_cifar10(folder, val_size=1)
    assert got["X_train"].shape == (14, 3, 32, 32) and got["y_test"].tolist() == [5, 1, 2]


# ------------------------------------------------------------------ MNIST IDX

def test_mnist_header_declaring_gigabytes_is_cheap(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    for stem, n in (("train", 3), ("t10k", 2)):
        (folder / f"{stem}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 0x803, 60000 * 1000, 28, 28) + bytes(28 * 28 * n))
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 0x801, n) + bytes(n))
    lines, rss = _child(refusal_code(
        "from fastnn.data.datasets import DatasetError, load_mnist",
        f"load_mnist({str(folder)!r})", "DatasetError"))
    assert lines[0].startswith("REFUSED") and "truncated" in lines[0]
    assert rss < 200 * MB
