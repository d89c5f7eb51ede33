"""fr-sam: The SAM reward: Segment Anything parts, CLIP labels, language-model scene-likelihood ratings."""
