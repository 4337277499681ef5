"""eggemo: emotion recognition from the electroglottograph (EGG)."""

__version__ = "0.1.0"
