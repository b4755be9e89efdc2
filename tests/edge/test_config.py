"""The config file: private, atomic, re-read as written; unpaired or broken files say what to do."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import CameraConfig, ConfigError, EdgeConfig, load_config, read_cameras, write_config


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_config_is_written_0600_in_a_0700_directory_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "config.toml"
    config = EdgeConfig(
        server="http://127.0.0.1:8000",
        device_id="0b7e",
        credential='s3cr"et\\',
        heartbeat_interval_s=15,
        cameras=[
            CameraConfig("front-door", 'Front "main" door', url="rtsp://u:p@10.0.0.2/s1"),
            CameraConfig("test", "Test", simulate="flaky"),
        ],
    )
    write_config(path, config)

    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert load_config(path) == config
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporary file left behind

    path.chmod(0o644)  # rewriting tightens a file someone loosened
    write_config(path, config)
    assert mode(path) == 0o600


def test_camera_keys_default_to_a_slug_of_the_name(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[cameras]]\nname = "Back Yard (east)"\nurl = "rtsp://10.0.0.3/live"\n')
    assert read_cameras(path) == [CameraConfig("back-yard-east", "Back Yard (east)", url="rtsp://10.0.0.3/live")]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist: this box is not paired yet"),
        ('server = "http://x"\n', "has no device_id, credential: this box is not paired yet"),
        ("server = \n", "is not valid TOML"),
        ('server = "x"\ndevice_id = "d"\ncredential = "c"\n[[cameras]]\nname = "A"\n', "needs a url"),
    ],
)
def test_unpaired_or_broken_config_is_one_clear_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, expected: str
) -> None:
    path = tmp_path / "config.toml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)

    assert main(["run", "--config", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and str(path) in error and expected in error
    if content is None:
        assert "porchlight-edge pair --server" in error


def test_default_path_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("PORCHLIGHT_EDGE_CONFIG", str(tmp_path / "from-env.toml"))
    assert main(["run"]) == 2
    assert "from-env.toml" in capsys.readouterr().err
