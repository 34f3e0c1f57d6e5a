"""The configuration file: validated at start, errors name the key, secrets stay hidden."""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
from pathlib import Path

import pytest

from gateway.alerts.config import AlertConfig
from gateway.service.config import ConfigError, DeviceConfig, GatewayConfig, load_config, parse_config
from gateway.processor import ProcessorConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "gateway.example.toml"
DEVICE = {"kit1": {"patient": "p1", "token": "s3cret-token"}}


def example_copy(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    shutil.copy(EXAMPLE, path)
    (tmp_path / "tokens").mkdir()
    (tmp_path / "tokens" / "kit-001.token").write_text("token-from-file\n")
    return path


def keys_of(cls: type, prefix: str = "") -> set[str]:
    """Every leaf key path of a config dataclass (``*_file`` alternatives excluded)."""
    out = set()
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            out |= keys_of(type(default), f"{prefix}{f.name}.")
        else:
            out.add(prefix + f.name)
    return out


def leaf_keys(table: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in table.items():
        if isinstance(v, dict) and k not in ("severity", "cooldown_s"):
            out |= leaf_keys(v, f"{prefix}{k}.")
        else:
            out.add(prefix + k)
    return out


def test_the_example_file_loads(tmp_path):
    config = load_config(example_copy(tmp_path))
    assert config.devices["kit-001"].patient == "alice"
    assert config.devices["kit-001"].token == "token-from-file"  # read from the token_file next to the config
    assert config.processor.alerts is config.alerts


def test_the_example_documents_every_key():
    table = tomllib.loads(EXAMPLE.read_text())
    written = leaf_keys(table)
    commented = EXAMPLE.read_text()
    ours = {k for k in keys_of(GatewayConfig) if k.split(".")[0] not in ("devices", "processor", "alerts")}
    for key in ours | keys_of(DeviceConfig, "devices.kit-001."):
        name = key.rsplit(".", 1)[-1]
        documented = (f"# {name} =", f"{name}_file =", f"# [{key}]")  # optional keys appear commented out
        assert key in written or any(d in commented for d in documented), \
            f"{key} is not in deploy/gateway.example.toml"
    for key in {k for k in keys_of(ProcessorConfig, "processor.") if not k.startswith("processor.alerts.")}:
        assert key in written, f"{key} is not in the example"
    for key in keys_of(AlertConfig, "alerts."):
        assert key in written, f"{key} is not in the example"


def test_the_example_shows_the_processor_and_alert_defaults():
    config = parse_config({k: v for k, v in tomllib.loads(EXAMPLE.read_text()).items()
                           if k in ("processor", "alerts")})
    assert config.alerts == AlertConfig()
    assert config.processor == ProcessorConfig()


@pytest.mark.parametrize("table,message", [
    ({"mqtt": {"port": "abc"}}, 'mqtt.port: expected an integer 1..65535, got "abc"'),
    ({"mqtt": {"port": 70000}}, "mqtt.port: expected an integer 1..65535, got 70000"),
    ({"mqtt": {"porte": 1883}}, "mqtt.porte: unknown key"),
    ({"mqtt": {"prefix": "ecg/#"}}, "mqtt.prefix:"),
    ({"mqtt": {"beat_stream": "yes"}}, 'mqtt.beat_stream: expected true or false, got "yes"'),
    ({"server": {"limits": {"rate_factor": -1}}}, "server.limits.rate_factor: expected a number 0..1000, got -1"),
    ({"server": 5}, "server: expected a table, got 5"),
    ({"logging": {"level": "LOUD"}}, 'logging.level: expected one of DEBUG, INFO, WARNING, ERROR, got "LOUD"'),
    ({"devices": {"kit1": {"token": "x"}}}, "devices.kit1.patient: required key is missing"),
    ({"devices": {"kit1": {"patient": "p1"}}}, "devices.kit1.token: required key is missing (or token_file)"),
    ({"devices": {"kit1": {"patient": "p/1", "token": "x"}}}, 'devices.kit1.patient: "p/1" does not match'),
    ({"devices": {"kit1": {"patient": "_gw", "token": "x"}}}, "devices.kit1.patient:"),
    ({"devices": {"kit 1": {"patient": "p1", "token": "x"}}}, "devices.kit 1: the name does not match"),
    ({"devices": {"kit1": {"patient": "p1", "token": "x", "gain": 0}}}, "devices.kit1.gain: expected a number"),
    ({"alerts": {"pause_s": -1.0}}, "alerts.pause_s: must be > 0"),
    ({"alerts": {"bradycardia_bpm": 200}}, "alerts.bradycardia_bpm (200.0) must be below tachycardia_bpm"),
    ({"alerts": {"severity": {"pause": "urgent"}}}, "alerts.severity.pause: invalid value"),
    ({"alerts": {"disabled": ["pause", 3]}}, "alerts.disabled[1]: expected a string, got 3"),
    ({"processor": {"strip": {"mv_range": [1.0]}}}, "processor.strip.mv_range: expected a list of 2 values"),
    ({"processor": {"stall_s": 20.0}}, "processor.stall_s (20.0) must be shorter than alerts.signal_lost_s"),
    ({"processor": {"alerts": {}}}, "processor.alerts: the alert policy is the top-level [alerts] section"),
])
def test_a_mistake_is_refused_naming_the_key(table, message):
    with pytest.raises(ConfigError) as e:
        parse_config(table)
    assert str(e.value).startswith(message)


def test_an_alert_setting_reaches_the_processor():
    config = parse_config({"alerts": {"pause_s": 4.5}, "processor": {"status_every_s": 5.0}})
    assert config.processor.alerts.pause_s == 4.5 and config.processor.status_every_s == 5.0


def test_secrets_never_appear_in_reprs_or_errors(tmp_path):
    config = parse_config({"devices": DEVICE, "mqtt": {"username": "gw", "password": "hunter2-password"}})
    assert "s3cret-token" not in repr(config) and "hunter2-password" not in repr(config)
    with pytest.raises(ConfigError) as e:
        parse_config({"devices": {"kit1": {"patient": "p1", "token": 12345678}}})
    assert "12345678" not in str(e.value) and "devices.kit1.token" in str(e.value)


def test_secrets_can_live_in_files_next_to_the_config(tmp_path):
    (tmp_path / "pw").write_text("from-a-file\n")
    (tmp_path / "gateway.toml").write_text('[mqtt]\nusername = "gw"\npassword_file = "pw"\n')
    assert load_config(tmp_path / "gateway.toml").mqtt.password == "from-a-file"


@pytest.mark.parametrize("table,message", [
    ({"devices": {"kit1": {"patient": "p1", "token_file": "missing"}}}, "devices.kit1.token_file: cannot read"),
    ({"devices": {"kit1": {"patient": "p1", "token": "a", "token_file": "f"}}},
     "devices.kit1.token: give either token or token_file, not both"),
])
def test_secret_file_mistakes_name_the_key(tmp_path, table, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_config(table, tmp_path)


def test_relative_paths_are_taken_from_the_config_directory(tmp_path):
    (tmp_path / "gateway.toml").write_text('[state]\ndir = "state"\n[mqtt.tls]\nca = "ca.crt"\n')
    config = load_config(tmp_path / "gateway.toml")
    assert Path(config.state.dir) == tmp_path.resolve() / "state"
    assert Path(config.mqtt.tls.ca) == tmp_path.resolve() / "ca.crt"


def test_a_file_that_is_not_toml_is_refused_with_its_path(tmp_path):
    (tmp_path / "bad.toml").write_text("[mqtt\nport = 1")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(tmp_path / "bad.toml")
