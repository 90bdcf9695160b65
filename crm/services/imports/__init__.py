"""Lead import: reading files, matching columns, validating rows, planning and writing."""
