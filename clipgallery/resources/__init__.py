"""Files the app ships (bundled models, label sets, icons); read them through clipgallery.core.resources."""
