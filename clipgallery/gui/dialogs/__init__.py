"""The app's dialogs, one per file."""
