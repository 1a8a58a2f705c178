"""`.env.example` documents every setting, and its values are accepted."""

import re

from dotenv import dotenv_values

from core.settings import PROJECT_ROOT, Settings


def setting_names(model: type, prefix: str = "SWITCHYARD_") -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            names |= setting_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def test_every_setting_is_documented_and_nothing_else() -> None:
    documented = dotenv_values(PROJECT_ROOT / ".env.example")
    assert set(documented) == setting_names(Settings)
    assert all(re.fullmatch(r"SWITCHYARD_[A-Z_]+", name) for name in documented)


def test_the_documented_values_are_valid(monkeypatch) -> None:
    for name, value in dotenv_values(PROJECT_ROOT / ".env.example").items():
        monkeypatch.setenv(name, value or "")
    settings = Settings()
    assert settings.database_url.startswith("sqlite:///")
    assert settings.fetch.allowed_networks == []
