"""The models behind the rails: the shared sentence encoder, the numpy heads on it, the toxicity backends
(embedded and detoxify), language identification, and the guard model's clients and prompt formats. Their trained
weights are files in `guardrails/models/`."""
