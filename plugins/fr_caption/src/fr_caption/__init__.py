"""fr-caption: The caption reward: a captioner describes the image; reward = similarity of caption and prompt."""
