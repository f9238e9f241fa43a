# The two commands of the README. Both install everything they need first.
.PHONY: demo test install

install:
	scripts/bootstrap

demo: install
	.venv/bin/backstop demo

test:
	scripts/test
