"""Re-exports :mod:`otel_genai_session.types` at its former path."""

from otel_genai_session.types import (
    AgentInvocation,
    EmbeddingInvocation,
    GenAIInvocation,
    LLMInvocation,
    RetrievalInvocation,
    Step,
    ToolCall,
    Workflow,
)

__all__ = [
    "AgentInvocation",
    "EmbeddingInvocation",
    "GenAIInvocation",
    "LLMInvocation",
    "RetrievalInvocation",
    "Step",
    "ToolCall",
    "Workflow",
]
