"""hccwatch: a literature and clinical-trial watcher for one person's liver cancer."""

__version__ = "0.1.0"
