"""Text helpers the rails share: normalisation against evasion, sentence units, topic words, profanity lists."""
