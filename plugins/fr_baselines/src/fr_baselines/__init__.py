"""fr-baselines: Baseline rewards: CLIP score, PickScore, HPSv2, ImageReward, LAION aesthetic, BLIP ITM."""
