"""When the bot speaks: models, sessions, schedule import, reminder planning and dispatch."""
