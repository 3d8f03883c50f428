"""The pipeline between the edge and Temporal: group commit, normalizer, dispatch outbox."""
