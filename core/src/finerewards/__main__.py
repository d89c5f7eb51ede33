"""`python -m finerewards` does what `fr` does (and what `accelerate launch -m finerewards` runs)."""

from finerewards.cli import main

if __name__ == "__main__":
    main()
