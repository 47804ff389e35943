"""What the misinformation rail knows and reads: the knowledge base of false claims, and whether a sentence asserts
a claim to the reader or tells it inside the story."""
