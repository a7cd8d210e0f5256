"""The command line reruns any chapter with other parameters, and refuses bad input up front."""
import pytest

from l2lcore import QuadraticTask, book, cli


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_chapter_with_its_parameters_read_from_the_book(capsys):
    code, out, _ = run(["list"], capsys)
    assert code == 0
    for c in cli.runnable():
        assert f"{c.slug}: {c.title}" in out
        for name, value in book.parameters(c.slug).items():
            assert f"    {name} = {value!r}" in out


@pytest.mark.parametrize("argv, message", [
    (["run", "theorem9"], "unknown chapter 'theorem9'"),
    (["run", "theorem3", "--set", "nosuch=1"], "valid: ['close_tol', 'd', 'ensemble'"),
    (["run", "theorem3", "--set", "seed=one"], "parameter 'seed' must be of the kind of its default 0"),
    (["run", "theorem3", "--set", "seed"], "--set takes NAME=VALUE"),
    (["run", "theorem3", "--scale", "huge"], "scale must be one of ('book', 'paper')"),
    (["run", "theorem3", "--scale", "long"], "scale must be one of ('book', 'paper')"),
    (["run", "learned", "--scale", "huge"], "scale must be one of ('book', 'long', 'paper')"),
    (["run", "theorem3", "--set", "scale=huge"], "scale must be one of"),
    (["frobnicate"], ""),
])
def test_bad_input_exits_2_before_anything_runs(argv, message, capsys, tmp_path):
    code, out, err = run(argv + (["--out", str(tmp_path / "x")] if argv[0] == "run" else []), capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "x").exists()


def test_an_output_path_that_is_a_file_is_bad_input(tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    code, _, err = run(["run", "theorem3", "--out", str(tmp_path / "afile"), "--force"], capsys)
    assert code == 2 and "is a file" in err and (tmp_path / "afile").read_text() == "mine"


def test_an_existing_output_directory_is_never_overwritten_silently(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    code, _, err = run(["run", "theorem3", "--out", str(tmp_path)], capsys)
    assert code == 2 and "exists and is not empty" in err and (tmp_path / "keep.txt").read_text() == "mine"


def test_a_rerun_with_another_seed_gives_other_numbers_and_its_claims_hold(tmp_path, capsys):
    code, out, _ = run(["run", "theorem3", "--set", "seed=1", "--out", str(tmp_path / "seed1")], capsys)
    assert code == 0, out
    import nbformat

    nb = nbformat.read(tmp_path / "seed1" / "theorem3.ipynb", as_version=4)
    (payload,) = cli.claims_of(nb)
    assert all(c["verdict"] == c["expected"] for c in payload["claims"]), out
    assert (tmp_path / "seed1" / "theorem3.html").stat().st_size > 10_000
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "seed = 1" in injected[0].source
    # the task behind the numbers is seed 1's, not the book's seed 0
    glued = {o["metadata"]["scrapbook"]["name"]: o["data"] for c in nb.cells for o in c.get("outputs", [])
             if "scrapbook" in o.get("metadata", {})}
    L = float(glued["theorem3-L"]["application/papermill.record/text/plain"])
    assert book.parameters("theorem3")["seed"] == 0
    assert L == QuadraticTask.random(20, 1, "paper").L != QuadraticTask.random(20, 0, "paper").L
