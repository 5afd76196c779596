# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
UCFDVS := $(VENV)/bin/ucfdvs
DEMO := demo
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean

venv: $(STAMP)

# Python 3.10 is required by lava-nc 0.10 / lava-dl 0.6: python3.10 on PATH, else a pyenv-installed 3.10.
$(STAMP): requirements.txt pyproject.toml
	@if [ ! -x $(PY) ]; then \
	  py=""; \
	  for cand in python3.10 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 2>/dev/null | sort -V -r); do \
	    if $$cand -c 'import sys, venv; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then py=$$cand; break; fi; \
	  done; \
	  if [ -z "$$py" ]; then echo "error: Python 3.10 not found (lava-nc 0.10 needs it): install python3.10 or 'pyenv install 3.10'" >&2; exit 1; fi; \
	  echo "creating $(VENV) with $$py"; \
	  $$py -m venv $(VENV) || exit 1; \
	fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	@touch $(STAMP)

# The whole pipeline on synthetic data: DVS recordings -> pretrained spiking extractor -> per-snippet features
# ($(DEMO)/data, official feature layout) -> linear baseline and MSF, each selected on a validation set carved
# from the training split (learning rates chosen on that validation set among 1e-4, 3e-4, 1e-3) -> NIR ->
# emulator (fixed point) -> benchmark. Ends with validation and test figures.
demo: $(STAMP)
	$(UCFDVS) synth-events --out $(DEMO)/events --seed 0 --force
	$(UCFDVS) pretrain-extractor --events $(DEMO)/events --out $(DEMO)/events/extractor.pt --iterations 1200
	$(UCFDVS) extract --events $(DEMO)/events --out $(DEMO)/data --force
	$(UCFDVS) train --data $(DEMO)/data --out $(DEMO)/run-linear --model linear --iterations 1000 --eval-every 100 --lr 1e-3 --force
	$(UCFDVS) train --data $(DEMO)/data --out $(DEMO)/run-msf --model msf --iterations 1000 --eval-every 100 --lr 3e-4 --force
	$(UCFDVS) eval --data $(DEMO)/data --checkpoint $(DEMO)/run-linear/best.pt --out $(DEMO)/eval-linear --force
	$(UCFDVS) eval --data $(DEMO)/data --checkpoint $(DEMO)/run-msf/best.pt --out $(DEMO)/eval-msf --force
	$(UCFDVS) summary --eval MSF=$(DEMO)/eval-msf --eval linear-MIL=$(DEMO)/eval-linear --out $(DEMO)/summary.md
	$(UCFDVS) export --checkpoint $(DEMO)/run-msf/best.pt --nir $(DEMO)/msf.nir --png $(DEMO)/msf-graph.png
	$(UCFDVS) simulate --nir $(DEMO)/msf.nir --data $(DEMO)/data --backend emu --precision fixed --out $(DEMO)/sim-fixed --force
	$(UCFDVS) bench --data $(DEMO)/data --checkpoint $(DEMO)/run-msf/best.pt --nir $(DEMO)/msf.nir --out $(DEMO)/bench --force
	@sed -n '1,40p' $(DEMO)/bench/report.md
	@sed -n '1,8p' $(DEMO)/summary.md
	$(PY) -m ucfdvs.benchmarks.digits_demo --out $(DEMO)/digits --force
	$(UCFDVS) bench --nir $(DEMO)/digits/graph.nir --input $(DEMO)/digits/inputs.npy --labels $(DEMO)/digits/labels.npy --reference $(DEMO)/digits/model.pt --source snntorch --flush --out $(DEMO)/bench-digits --force
	@sed -n '1,24p' $(DEMO)/bench-digits/report.md

test: $(STAMP)
	$(VENV)/bin/pytest tests

clean:
	rm -rf $(DEMO)
