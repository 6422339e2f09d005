"""The original system's two files, rebuilt from the roster, read in their own schemas.

Checked together they report exactly the original's real defects and nothing else:
- the dependency cycle TTSService -> StreamingInterruptHandler -> StreamingTTSAgent ->
  TTSService (original_system.md section 2);
- the 31 clashes of the legacy BaseAgent's undeclared HTTP port (health_check_port + 1) with
  another agent's health port, 21 on MainPC and 10 on PC2 (section 2, risk C);
- PC2's error_bus_port 7150, the same number as VisionProcessingAgent's port (section 1.2).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from common.config import MeshConfig, dependency_waves, load_legacy_pair, validate_files
from common.config.graph import topological_waves
from common.config.legacy import read_legacy
from common.config.legacy_merge import combine_legacy

LEGACY = Path(__file__).parent / "legacy"
MAIN_PC = LEGACY / "main_pc_startup_config.yaml"
PC2 = LEGACY / "pc2_startup_config.yaml"
TTS_CYCLE = "dependency cycle: TTSService -> StreamingInterruptHandler -> StreamingTTSAgent -> " \
            "TTSService"

# (file, field path, message) of every defect, as documented in original_system.md / roster.yaml
HIDDEN_PORT_CLASHES_MAIN_PC = {
    # agent whose health_check_port+1 clashes -> the agent whose health port it is
    "ModelManagerSuite": "LearningOrchestrationService",
    "LocalFineTunerAgent": "LearningAdjusterAgent",
    "ChainOfThoughtAgent": "PredictiveHealthMonitor",
    "CognitiveModelAgent": "LocalFineTunerAgent",
    "LearningOrchestrationService": "ModelOrchestrator",
    "LearningManager": "NLLBAdapter",
    "NLUAgent": "AdvancedCommandHandler",
    "AdvancedCommandHandler": "ChitchatAgent",
    "FeedbackHandler": "Responder",
    "Responder": "ActiveLearningMonitor",
    "STTService": "TTSService",
    "TTSService": "DynamicIdentityAgent",
    "AudioCapture": "FusedAudioPreprocessor",
    "FusedAudioPreprocessor": "WakeWordDetector",
    "WakeWordDetector": "StreamingSpeechRecognition",
    "StreamingLanguageAnalyzer": "LearningManager",
    "ProactiveAgent": "ToneDetector",
    "MoodTrackerAgent": "HumanAwarenessAgent",
    "HumanAwarenessAgent": "EmotionSynthesisAgent",
    "VoiceProfilingAgent": "NLUAgent",
    "EmpathyAgent": "MoodTrackerAgent",
}
HIDDEN_PORT_CLASHES_PC2 = {
    "TieredResponder": "AsyncProcessor",
    "AsyncProcessor": "CacheManager",
    "DreamWorldAgent": "UnifiedMemoryReasoningAgent",
    "ContextManager": "ExperienceTracker",
    "ExperienceTracker": "ResourceManager",
    "TaskScheduler": "AuthenticationAgent",
    "UnifiedUtilsAgent": "ProactiveContextMonitor",
    "AgentTrustScorer": "FileSystemAssistantAgent",
    "FileSystemAssistantAgent": "RemoteConnectorAgent",
    "UnifiedWebAgent": "DreamingModeAgent",
}


def pair_issues():
    config, issues = validate_files([MAIN_PC, PC2])
    assert config is None
    return issues


def converted(port_offset: int = 0) -> MeshConfig:
    """The pair converted to version 1 and through the schema, before the semantic checks
    (which the original files fail)."""
    files = [read_legacy(yaml.safe_load(path.read_text()), host, str(path))
             for host, path in (("main_pc", MAIN_PC), ("pc2", PC2))]
    data, _ = combine_legacy(files)
    return MeshConfig.model_validate(data, context={"port_offset": port_offset})


def test_rebuilt_files_are_in_their_own_two_schemas() -> None:
    main_pc, pc2 = yaml.safe_load(MAIN_PC.read_text()), yaml.safe_load(PC2.read_text())
    assert set(main_pc) == {"global_settings", "agent_groups"}
    assert len(main_pc["agent_groups"]) == 11
    assert sum(len(group) for group in main_pc["agent_groups"].values()) == 54
    assert set(pc2) == {"global_settings", "pc2_services", "health_checks", "pc2_network",
                        "error_bus_port"}
    assert len(pc2["pc2_services"]) == 23
    entry = main_pc["agent_groups"]["core_services"]["ServiceRegistry"]
    assert entry["port"] == "${PORT_OFFSET}+7200"
    assert entry["health_check_port"] == "${PORT_OFFSET}+8200"


def test_pair_reports_exactly_the_real_defects() -> None:
    issues = pair_issues()
    cycles = [issue for issue in issues if "cycle" in issue.message]
    collisions = [issue for issue in issues if "collides with" in issue.message]
    assert len(issues) == len(cycles) + len(collisions) == 1 + 21 + 10 + 1
    assert [str(issue.source).endswith("main_pc_startup_config.yaml") for issue in cycles] == [True]
    assert cycles[0].path == "agent_groups.speech_services.TTSService.dependencies[2]"
    assert cycles[0].message == TTS_CYCLE
    error_bus = [issue for issue in collisions if issue.path == "error_bus_port"]
    assert [issue.message for issue in error_bus] == [
        "7150 collides with pc2.VisionProcessingAgent.port"]


@pytest.mark.parametrize("host, clashes, source", [
    ("main_pc", HIDDEN_PORT_CLASHES_MAIN_PC, MAIN_PC),
    ("pc2", HIDDEN_PORT_CLASHES_PC2, PC2),
])
def test_every_hidden_http_port_clash_is_reported(host, clashes, source) -> None:
    config_issues = [issue for issue in pair_issues() if issue.source == str(source)
                     and "collides with" in issue.message and issue.path != "error_bus_port"]
    reported = {frozenset(_clash_names(issue, host)) for issue in config_issues}
    assert reported == {frozenset(pair) for pair in clashes.items()}
    assert len(config_issues) == len(clashes)


def _clash_names(issue, host: str) -> tuple[str, str]:
    """(agent at the issue's path, agent named in the message) of one clash report."""
    other = issue.message.split(" collides with ")[1].split(".")[1]
    return _agent_at(issue.path, host), other


def _agent_at(path: str, host: str) -> str:
    if host == "main_pc":
        return path.split(".")[2]  # agent_groups.<group>.<Agent>.<field>
    index = int(path.split("[")[1].split("]")[0])  # pc2_services[i].<field>
    return PC2_NAMES[index]


PC2_NAMES = [line.split("name: ")[1] for line in PC2.read_text().splitlines()
             if line.startswith("  - name: ")]


def test_conversion_is_faithful() -> None:
    config = converted()
    assert [len(config.agents_on(h)) for h in ("main_pc", "pc2")] == [54, 23]
    assert sorted(a.name for a in config.agents if not a.required) == [
        "CognitiveModelAgent", "GoTToTAgent", "TinyLlamaServiceEnhanced"]
    mms = config.agent("ModelManagerSuite")
    assert (mms.port, mms.health_port, mms.ports) == (7211, 8211, {"legacy_http": 8212})
    assert mms.script_path == "main_pc_code/model_manager_suite.py" and mms.module is None
    assert mms.settings["vram_budget_percentage"] == 80 and mms.group == "core_services"
    assert mms.resources.memory_mb == 2048
    assert config.agent("CacheManager").resources.memory_mb == 4096
    edge = config.agent("ObservabilityHub_pc2")  # both files call it ObservabilityHub
    assert (edge.host, edge.port, edge.health_port) == ("pc2", 9100, 9110)
    assert edge.settings["mainpc_hub_endpoint"] == "${MAINPC_OBS_HUB}"
    assert config.agent("ResourceManager").dependencies == ["ObservabilityHub_pc2"]
    assert config.agent("ObservabilityHub").host == "main_pc"
    assert config.hosts["pc2"].reserved_ports == {"error_bus_port": 7150}
    assert config.hosts["main_pc"].env["PYTHONPATH"] == "/app"
    assert config.global_.health.start_period_s == 300 and config.global_.health.retries == 3


def test_port_offset_shifts_every_legacy_port() -> None:
    config = converted(port_offset=10000)
    registry = config.agent("ServiceRegistry")
    assert (registry.port, registry.health_port, registry.ports["legacy_http"]) == (
        17200, 18200, 18201)
    assert config.hosts["pc2"].reserved_ports["error_bus_port"] == 17150


def test_start_phases_match_the_documented_depth() -> None:
    """Without the five agents the cycle kept from starting, MainPC starts in 6 levels of
    1, 1, 11, 24, 11 and 1 agents (original_system.md section 2); PC2 in 6 levels."""
    config = converted()
    never_started = {"TTSService", "StreamingInterruptHandler", "StreamingTTSAgent",
                     "Responder", "EmpathyAgent"}
    graph = {a.name: a.dependencies for a in config.agents_on("main_pc")
             if a.name not in never_started}
    assert [len(wave) for wave in topological_waves(graph)] == [1, 1, 11, 24, 11, 1]
    pc2 = {a.name: a.dependencies for a in config.agents_on("pc2")}
    assert len(topological_waves(pc2)) == 6


def test_the_pair_with_its_defects_fixed_loads(tmp_path) -> None:
    main_pc = MAIN_PC.read_text().replace(
        "dependencies: [StreamingSpeechRecognition, StreamingTTSAgent, SystemDigitalTwin]",
        "dependencies: [StreamingSpeechRecognition, SystemDigitalTwin]")
    pc2 = PC2.read_text().replace('error_bus_port: "${PORT_OFFSET}+7150"',
                                  'error_bus_port: "${PORT_OFFSET}+7160"')
    (tmp_path / "main.yaml").write_text(_spread_health_ports(main_pc))
    (tmp_path / "pc2.yaml").write_text(_spread_health_ports(pc2))
    config = load_legacy_pair(tmp_path / "main.yaml", tmp_path / "pc2.yaml")
    assert len(config.agents) == 77
    waves = dependency_waves(config, host="main_pc")
    assert waves[:2] == [["ServiceRegistry"], ["SystemDigitalTwin"]]
    assert sum(map(len, waves)) == 54


def _spread_health_ports(text: str) -> str:
    """Give every health port an even number, so health_check_port + 1 is free."""
    lines = []
    for line in text.splitlines():
        if "health_check_port: " in line and "${PORT_OFFSET}+" in line:
            head, number = line.rsplit("+", 1)
            line = f'{head}+{30000 + 2 * (int(number.rstrip(chr(34))) % 10000)}"'
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_each_file_alone_reports_its_own_defects() -> None:
    _, main_issues = validate_files([MAIN_PC])
    _, pc2_issues = validate_files([PC2])
    assert len(main_issues) == 21 + 1 and len(pc2_issues) == 10 + 1
    assert {issue.source for issue in main_issues} == {str(MAIN_PC)}
    assert {issue.source for issue in pc2_issues} == {str(PC2)}


def test_pair_order_does_not_matter() -> None:
    assert validate_files([PC2, MAIN_PC])[1] == pair_issues()
