"""Pure domain core: definitions, step configs, graph, templating, validation and run inputs."""
