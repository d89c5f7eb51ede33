"""fr-caption: the caption reward (a captioner describes the image; reward = caption-prompt similarity)."""
