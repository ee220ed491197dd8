"""The web pages: server-rendered shells, static JS/CSS and the offline map geography."""
