"""Azure components: one ComponentResource per file, all taking the same shapes from `shared`."""
