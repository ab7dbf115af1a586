"""Tests of the game core (alft_cli.game)."""
