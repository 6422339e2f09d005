"""audio_interface: the streaming voice path, AudioCapture -> preprocessor -> ASR -> analysis."""

from __future__ import annotations

from typing import Any

from common.base_agent import MeshError, handler, require
from common.kinds import SignalSource, StateHolder, StoreAgent, StreamStage
from common.kinds.stream import FRAME_MS, Message, frame_rms
from common.kinds.text import language, tokens

__all__ = ["AudioCapture", "FusedAudioPreprocessor", "ProactiveAgent",
           "StreamingInterruptHandler", "StreamingLanguageAnalyzer",
           "StreamingSpeechRecognition", "StreamingTTSAgent", "WakeWordDetector"]

NOISE_ALPHA = 0.05
SPEECH_FACTOR = 4.0
MIN_SPEECH_RMS = 500.0


class AudioCapture(SignalSource):
    """Publishes 100 ms frames of a generated utterance signal (no microphone here)."""


class FusedAudioPreprocessor(StreamStage):
    """Noise floor tracking, noise gate and energy VAD; republishes clean audio and VAD events."""

    upstream = "AudioCapture"
    topics = ("audio",)

    def setup_kind(self) -> None:
        super().setup_kind()
        self.floor = 300.0
        self.voiced_ms = 0
        self.energy = 0.0

    def process(self, topic: str, header: dict[str, Any], data: bytes) -> list[Message]:
        rms = frame_rms(data)
        speech = rms > max(self.floor * SPEECH_FACTOR, MIN_SPEECH_RMS)
        if not speech:
            self.floor += NOISE_ALPHA * (rms - self.floor)
        out: list[Message] = [("audio_clean", {**header, "rms": round(rms, 1),
                                               "speech": speech}, data if speech else b"")]
        if speech:
            if not self.voiced_ms:
                out.append(("vad", {"event": "start", "seq": header["seq"]}, b""))
            self.voiced_ms += FRAME_MS
            self.energy = max(self.energy, rms)
        elif self.voiced_ms:
            out.append(("vad", {"event": "end", "duration_ms": self.voiced_ms,
                                "energy": round(self.energy, 1)}, b""))
            self.voiced_ms, self.energy = 0, 0.0
        return out


class WakeWordDetector(StreamStage):
    """The wake pattern: a short voiced segment (< 0.8 s) followed by a long one (> 1 s)."""

    upstream = "FusedAudioPreprocessor"
    topics = ("vad",)

    def setup_kind(self) -> None:
        super().setup_kind()
        self.previous_ms = 0
        self.wakes = 0

    def process(self, topic: str, header: dict[str, Any], data: bytes) -> list[Message]:
        if header.get("event") != "end":
            return []
        duration = int(header["duration_ms"])
        woke = 0 < self.previous_ms < 800 and duration > 1000
        self.previous_ms = duration
        if woke:
            self.wakes += 1
            return [("wake", {"word": "highminds", "count": self.wakes}, b"")]
        return []


class StreamingSpeechRecognition(StreamStage):
    """Each finished voiced segment goes to STTService; transcripts are published."""

    upstream = "FusedAudioPreprocessor"
    topics = ("vad",)

    def process(self, topic: str, header: dict[str, Any], data: bytes) -> list[Message]:
        if header.get("event") != "end":
            return []
        try:
            out = self.call("STTService", "transcribe", {
                "duration_ms": header["duration_ms"], "energy": header["energy"]},
                timeout_s=0.5)
        except MeshError:
            return []
        return [("transcript", {"text": out["text"], "final": True}, b"")]


class StreamingLanguageAnalyzer(StreamStage):
    """English / Tagalog / Taglish share of the live transcripts."""

    upstream = "StreamingSpeechRecognition"
    topics = ("transcript",)

    def setup_kind(self) -> None:
        super().setup_kind()
        self.languages: dict[str, int] = {}

    def process(self, topic: str, header: dict[str, Any], data: bytes) -> list[Message]:
        lang, _ = language(header.get("text", ""))
        self.languages[lang] = self.languages.get(lang, 0) + 1
        return []

    @handler("languages")
    def languages_(self, payload: Any = None) -> dict[str, int]:
        return dict(self.languages)


class StreamingInterruptHandler(StreamStage):
    """Barge-in: a stop word in a transcript interrupts StreamingTTSAgent."""

    upstream = "StreamingSpeechRecognition"
    topics = ("transcript",)
    stop_words = frozenset({"stop", "wait", "tama", "hinto"})

    def process(self, topic: str, header: dict[str, Any], data: bytes) -> list[Message]:
        if self.stop_words & set(tokens(header.get("text", ""))):
            try:
                self.call("StreamingTTSAgent", "interrupt", {}, timeout_s=0.5)
            except MeshError:
                pass
        return []


class StreamingTTSAgent(StateHolder):
    """Speaks sentence by sentence through TTSService; interrupts stop it."""

    fields = {"speaking": False, "sentences": 0, "interrupted": 0, "spoken_s": 0.0}

    @handler("speak")
    def speak(self, payload: Any) -> dict[str, Any]:
        text = require(payload, "text", str)
        total = 0.0
        for sentence in [s for s in text.split(".") if s.strip()]:
            total += self.call("TTSService", "synthesize", {"text": sentence})["duration_s"]
        return self.apply({"speaking": True, "sentences": self.state["sentences"] + 1,
                           "spoken_s": round(self.state["spoken_s"] + total, 2)}, "speak")

    @handler("interrupt")
    def interrupt(self, payload: Any = None) -> dict[str, Any]:
        return self.apply({"speaking": False,
                           "interrupted": self.state["interrupted"] + 1}, "interrupt")


class ProactiveAgent(StoreAgent):
    """Reminders and suggestions; reminders expire after a day unless renewed."""

    default_kind = "reminder"
    ttl_s_by_kind = {"reminder": 86400.0, "suggestion": 3600.0}
