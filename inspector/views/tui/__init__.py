"""The Textual TUI: live view of a proxy's event stream, or of a saved capture.

Layout follows the pipeline: `feed` holds what the UI shows (fed by the stream client
or a capture), `app` wires one refresh timer to the widgets in `components/`, and the
styles live in `app.tcss`, apart from the Python.
"""
