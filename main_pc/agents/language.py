"""language_processing: NLU, orchestration of model work, response building."""

from __future__ import annotations

from common.kinds import ResponderKind, RouterAgent, StateHolder, StoreAgent

__all__ = ["AdvancedCommandHandler", "ChitchatAgent", "DynamicIdentityAgent",
           "EmotionSynthesisAgent", "FeedbackHandler", "GoalManager",
           "IntentionValidatorAgent", "ModelOrchestrator", "NLUAgent", "Responder",
           "TranslationService"]

INTENTS = {"question": ["what", "who", "when", "where", "why", "how", "ano", "bakit"],
           "command": ["open", "run", "start", "stop", "set", "play", "turn"],
           "code": ["code", "function", "script", "python", "bug"],
           "translate": ["translate", "tagalog", "english", "salin"],
           "remember": ["remember", "recall", "remind", "note"],
           "greeting": ["hello", "hi", "hey", "kumusta", "morning"]}


class NLUAgent(RouterAgent):
    """Intents and entities from text (pattern-based, as in the original)."""

    rules = INTENTS


class ModelOrchestrator(RouterAgent):
    """Routes model work by task type to a model agent; falls back when one is loading."""

    rules = INTENTS
    routes = {"code": ["ModelManagerSuite", "TinyLlamaServiceEnhanced"],
              "translate": ["ModelManagerSuite", "TinyLlamaServiceEnhanced"],
              "other": ["TinyLlamaServiceEnhanced", "ModelManagerSuite"]}


class GoalManager(StoreAgent):
    """Goals broken into tasks, with their completion."""

    default_kind = "goal"


class IntentionValidatorAgent(RouterAgent):
    """Flags intents that need a confirmation before they run."""

    rules = {"risky": ["delete", "remove", "format", "shutdown", "buy", "pay"],
             "safe": ["show", "tell", "what", "play", "open"]}


class AdvancedCommandHandler(RouterAgent):
    """Command sequences: code requests go to the code generator."""

    rules = {"code": INTENTS["code"], "command": INTENTS["command"]}
    routes = {"code": ["CodeGenerator"]}


class ChitchatAgent(RouterAgent):
    """Casual conversation: the topic of small talk."""

    rules = {"weather": ["weather", "rain", "sunny"], "feelings": ["feel", "happy", "sad"],
             "greeting": INTENTS["greeting"]}


class FeedbackHandler(RouterAgent):
    """Turns a command's outcome into confirmation feedback."""

    rules = {"success": ["done", "ok", "success"], "failure": ["fail", "error", "cannot"]}


class Responder(ResponderKind):
    """The final answer: generated text, emotion, memory, and a speech plan."""


class TranslationService(RouterAgent):
    """Language ID (English, Tagalog, Taglish) before translation."""

    rules = {"translate": INTENTS["translate"]}


class DynamicIdentityAgent(StateHolder):
    """The assistant's persona, switched by context and published."""

    fields = {"persona": "assistant", "formality": 0.5, "humor": 0.3}
    ranges = {"formality": (0.0, 1.0), "humor": (0.0, 1.0)}


class EmotionSynthesisAgent(RouterAgent):
    """Prosody hints for a response by its emotion words."""

    rules = {"excited": ["great", "amazing", "wow"], "calm": ["okay", "sure", "fine"],
             "sad": ["sorry", "unfortunately"]}
