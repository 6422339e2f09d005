"""Load and validate startup configs: every error of a document is collected, then raised at once.

Each part (``global``, each host, each agent) is validated on its own, so one broken agent does
not hide the errors of the others; the checks across parts then run on every part that passed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from common.config.agent_classes import class_issues
from common.config.agent_schema import AgentConfig
from common.config.anomaly import AnomalyConfig
from common.config.backup import BackupConfig
from common.config.checks import ConfigView, check_view
from common.config.external import ExternalService
from common.config.failover import FailoverTimings
from common.config.fields import HostName
from common.config.history import AlertmanagerConfig, EventsConfig
from common.config.host_schema import HostConfig
from common.config.issues import ConfigError, ConfigIssue, format_path, path_sort_key
from common.config.legacy import detect_schema, read_legacy
from common.config.legacy_merge import combine_legacy
from common.config.reader import read_yaml
from common.config.registry import RegistryConfig
from common.config.schema import GlobalSettings, MeshConfig, peek_port_offset
from common.config.slos import SloObjective, SlosConfig
from common.config.validation import issues_from_validation_error, unknown_key_message

__all__ = ["load_config", "load_legacy_pair", "parse_config", "validate_data", "validate_files"]

M = TypeVar("M", bound=BaseModel)

logger = logging.getLogger(__name__)

_TOP_KEYS = ("version", "global", "hosts", "agents", "services", "slos", "events", "alertmanager",
             "anomaly", "registry", "failover", "backup")
_HOST_NAME: TypeAdapter[str] = TypeAdapter(HostName)
_LEGACY_ORDER = ("main_pc", "pc2")


def load_config(path: str | Path, *, port_offset: int | None = None) -> MeshConfig:
    """Load one file: a version-1 ``startup_config.yaml`` or one of the original system's two
    files (told apart by their top-level keys). Raises ConfigError with every issue found."""
    return _or_raise(validate_files([path], port_offset=port_offset))


def load_legacy_pair(main_pc_path: str | Path, pc2_path: str | Path, *,
                     port_offset: int | None = None) -> MeshConfig:
    """Load the original MainPC and PC2 files together, so that ports and dependencies are
    checked across both hosts. Raises ConfigError with every issue found."""
    return _or_raise(validate_files([main_pc_path, pc2_path], port_offset=port_offset))


def parse_config(data: Any, *, port_offset: int | None = None) -> MeshConfig:
    """Validate already-parsed version-1 data. Raises ConfigError with every issue found."""
    return _or_raise(validate_data(data, port_offset=port_offset))


def validate_files(paths: Sequence[str | Path], *, port_offset: int | None = None,
                   classes: bool = False) -> tuple[MeshConfig | None, list[ConfigIssue]]:
    """The config of one version-1 file, or of one or two legacy files taken together, and
    every issue found; the config is None whenever there is an issue.  ``classes``: also
    import each agent's class and check its entry against it (common.config.agent_classes)."""
    if not paths:
        raise ValueError("validate_files needs at least one path")
    documents, issues = [], []
    for path in paths:
        data, read_issues = read_yaml(path)
        issues.extend(read_issues)
        if data is not None or not read_issues:
            documents.append((str(path), data, detect_schema(data)))
    issues.extend(_schema_issues(documents))
    if issues:
        return None, issues
    if documents[0][2] == "mesh":
        config, found = validate_data(documents[0][1], port_offset=port_offset,
                                      classes=classes)
        return config, [_sourced(issue, documents[0][0]) for issue in found]
    return _validate_legacy(documents, port_offset, classes)


def _schema_issues(documents: list[tuple[str, Any, str | None]]) -> list[ConfigIssue]:
    issues = []
    for source, _, kind in documents:
        if kind is None:
            issues.append(ConfigIssue("", "cannot tell the schema: expected a mapping with "
                                      "'agents' (version 1), 'agent_groups' (legacy MainPC) or "
                                      "'pc2_services' (legacy PC2), and only one of them",
                                      source=source))
    kinds = [kind for _, _, kind in documents if kind is not None]
    if len(documents) > 1 and ("mesh" in kinds or len(set(kinds)) != len(kinds)):
        issues.append(ConfigIssue("", f"several files are read together only as the legacy "
                                  f"MainPC and PC2 pair; got {', '.join(kinds)}",
                                  source=documents[1][0]))
    return issues


def _validate_legacy(documents: list[tuple[str, Any, str | None]], port_offset: int | None,
                     classes: bool) -> tuple[MeshConfig | None, list[ConfigIssue]]:
    documents = sorted(documents, key=lambda doc: _LEGACY_ORDER.index(str(doc[2])))
    files = [read_legacy(data, str(kind), source) for source, data, kind in documents]
    data, paths = combine_legacy(files)
    config, issues = validate_data(data, port_offset=port_offset, classes=classes)
    legacy_issues = [issue for legacy in files for issue in legacy.issues]
    return (None if legacy_issues else config), legacy_issues + paths.translate_all(issues)


def validate_data(data: Any, *, port_offset: int | None = None, classes: bool = False
                  ) -> tuple[MeshConfig | None, list[ConfigIssue]]:
    """Validate version-1 data: (config, []) or (None, every issue, in document order).
    ``classes``: also check each agent against its class (see validate_files)."""
    if not isinstance(data, dict):
        return None, [ConfigIssue("", "expected a mapping with version, global, hosts and "
                                  "agents", type(data).__name__)]
    offset = peek_port_offset(data) if port_offset is None else port_offset
    context = {"port_offset": offset}
    issues = _top_level_issues(data)
    global_data, agent_data = data.get("global"), data.get("agents")
    settings = _piece(GlobalSettings, {} if global_data is None else global_data, "global",
                      context, issues)
    hosts, host_names = _hosts(data.get("hosts"), context, issues)
    agents, agent_names = _agents([] if agent_data is None else agent_data, context, issues)
    slos, objectives = _slos(data.get("slos"), context, issues)
    external, external_names = _external(data.get("services"), context, issues)
    events = _piece(EventsConfig, _section(data, "events"), "events", context, issues)
    alertmanager = None if data.get("alertmanager") is None else _piece(
        AlertmanagerConfig, data["alertmanager"], "alertmanager", context, issues)
    anomaly = _piece(AnomalyConfig, _section(data, "anomaly"), "anomaly", context, issues)
    registry = _piece(RegistryConfig, _section(data, "registry"), "registry", context, issues)
    failover = _piece(FailoverTimings, _section(data, "failover"), "failover", context, issues)
    backup = _piece(BackupConfig, _section(data, "backup"), "backup", context, issues)
    view = ConfigView(hosts, agents, frozenset(host_names),
                      frozenset(agent_names) | frozenset(external_names), objectives, external,
                      registry.backend if registry is not None else "sqlite")
    issues.extend(check_view(view))
    if classes:
        issues.extend(class_issues(agents))
    if issues or settings is None or slos is None:
        return None, sorted(issues, key=lambda issue: path_sort_key(issue.path))
    settings = settings.model_copy(update={"port_offset": offset})
    fields = {"version": 1, "global": settings, "hosts": hosts,
              "agents": [agent for _, agent in agents],
              "services": [service for _, service in external],
              "slos": slos.model_copy(update={"objectives": [o for _, o in objectives]}),
              "events": events, "alertmanager": alertmanager, "anomaly": anomaly,
              "registry": registry, "failover": failover, "backup": backup}
    return MeshConfig(**fields), []


def _section(data: dict[str, Any], key: str) -> Any:
    """A top-level section whose fields all have defaults: absent or empty means defaults."""
    return {} if data.get(key) is None else data[key]


def _top_level_issues(data: dict[str, Any]) -> list[ConfigIssue]:
    issues = [ConfigIssue(str(key), unknown_key_message(str(key), _TOP_KEYS), value)
              for key, value in data.items() if key not in _TOP_KEYS]
    if "version" not in data:
        issues.append(ConfigIssue("version", "missing required key; this loader reads 1"))
    elif type(data["version"]) is not int or data["version"] != 1:
        issues.append(ConfigIssue("version", "unsupported version; this loader reads 1",
                                  data["version"]))
    return issues


def _piece(model: type[BaseModel], data: Any, path: str, context: dict[str, Any],
           issues: list[ConfigIssue]) -> Any:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        issues.extend(issues_from_validation_error(exc, path, model))
        return None


def _hosts(data: Any, context: dict[str, Any], issues: list[ConfigIssue]
           ) -> tuple[dict[str, HostConfig], list[str]]:
    if not isinstance(data, dict) or not data:
        message = "missing required key" if data is None else "expected a mapping of hosts"
        issues.append(ConfigIssue("hosts", message + " (name -> {address, gpu, roles})"))
        return {}, []
    hosts = {}
    for position, (name, entry) in enumerate(data.items()):
        path = format_path([str(name)], "hosts")
        try:
            _HOST_NAME.validate_python(name)
        except ValidationError as exc:
            issues.extend(issues_from_validation_error(exc, path, HostConfig))
            continue
        host = _piece(HostConfig, entry, path, {**context, "host_index": position}, issues)
        if host is not None:
            hosts[name] = host
    return hosts, [str(name) for name in data]


def _external(data: Any, context: dict[str, Any], issues: list[ConfigIssue]
              ) -> tuple[list[tuple[int, ExternalService]], list[str]]:
    """``services:``, each entry checked on its own (as agents are)."""
    if data is None:
        return [], []
    return _entries(ExternalService, data, "services", context, issues)


def _agents(data: Any, context: dict[str, Any], issues: list[ConfigIssue]
            ) -> tuple[list[tuple[int, AgentConfig]], list[str]]:
    return _entries(AgentConfig, data, "agents", context, issues)


def _entries(model: type[M], data: Any, key: str, context: dict[str, Any],
             issues: list[ConfigIssue]) -> tuple[list[tuple[int, M]], list[str]]:
    """A list section (``agents:``, ``services:``), each entry checked on its own so that one
    bad entry hides no other's errors; -> the good ones by index, and every entry's name."""
    if not isinstance(data, list):
        issues.append(ConfigIssue(key, f"expected a list of {key}", data))
        return [], []
    out = []
    for index, entry in enumerate(data):
        piece = _piece(model, entry, f"{key}[{index}]", context, issues)
        if piece is not None:
            out.append((index, piece))
    names = [entry["name"] for entry in data
             if isinstance(entry, dict) and isinstance(entry.get("name"), str)]
    return out, names


def _slos(data: Any, context: dict[str, Any], issues: list[ConfigIssue]
          ) -> tuple[SlosConfig | None, list[tuple[int, SloObjective]]]:
    """The section and each objective validated on its own (one bad objective hides no
    other's errors)."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        issues.append(ConfigIssue("slos", "expected a mapping (window, report_every, "
                                  "objectives)", data))
        return None, []
    entries = data.get("objectives", [])
    section = _piece(SlosConfig, {**data, "objectives": []}, "slos", context, issues)
    if not isinstance(entries, list):
        issues.append(ConfigIssue("slos.objectives", "expected a list of objectives", entries))
        return None, []
    objectives = [(i, o) for i, entry in enumerate(entries) if (o := _piece(
        SloObjective, entry, f"slos.objectives[{i}]", context, issues)) is not None]
    return section, objectives


def _sourced(issue: ConfigIssue, source: str) -> ConfigIssue:
    return issue if issue.source else ConfigIssue(issue.path, issue.message, issue.value, source)


def _or_raise(result: tuple[MeshConfig | None, list[ConfigIssue]]) -> MeshConfig:
    config, issues = result
    if issues or config is None:
        raise ConfigError(issues)
    logger.debug("config loaded: %d agents on %d hosts", len(config.agents), len(config.hosts))
    return config
