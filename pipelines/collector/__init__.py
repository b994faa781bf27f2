"""The stream collector: venues' websocket feeds written, frame by frame, into the landing archive's hourly files
(hourly_files); the long-running service that feeds it comes on top."""
