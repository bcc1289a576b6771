"""What a user copies to the device and reads: the .mud package, the MaixPy app, provenance
and the report. Imports every layer below it."""
