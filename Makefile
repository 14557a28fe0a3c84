# Thin targets; the scripts do the work.
.PHONY: test lint bench fmt

# The README's test command: every test, with moto started for the integration tests.
test:
	./scripts/test.sh

lint:
	./scripts/lint.sh

bench:
	go test -run='^$$' -bench=. -benchmem ./shared/...

fmt:
	gofmt -w .
