"""The web console: ``/ui`` routes, their Jinja2 templates and stylesheet."""
