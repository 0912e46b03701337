"""The malformed inputs tests/test_bad_input.py walks: every file kind a user edits and the command-line
options, each as (id, files to write into the project, argv, fragments the one error line must contain).

In argv and file texts, {root} is the project folder and {model} the tiny model's folder; `c.toml`
is a config beside the project's own (same store, tasks and data), so a case changes only its file."""

from __future__ import annotations

import json
import struct

PROJECT = '[project]\nstore = "store.db"\n'
MODEL = '[models.tiny]\nsource = "{model}"\nbatch_size = 4\n'
SUITE = '[suites.default]\ntasks = ["toyppl"]\n'
GOOD = PROJECT + MODEL + SUITE
OPTIONS = SUITE + '[suites.default.options.toyppl]\n'
JUDGE = '[judges.j]\nprompt = "mtbench-pairwise"\nmodel = "tiny"\n'
TASK = ('name = "bad"\nversion = 1\nkind = "perplexity"\nid_field = "id"\n[[sources]]\nkind = "file"\n'
        'path = "../docs.jsonl"\n[perplexity]\ntext = "{{ text }}"\n')
RECIPE = 'stage = "sft"\n[[data.sources]]\nkind = "file"\npath = "chat.jsonl"\n'
JUDGE_FILE = ('name = "broken"\nversion = 1\nsystem = "Judge."\nuser = "{{ question }} {{ answer_a }} {{ answer_b }}"\n'
              '[verdict]\nregex = \'\\[\\[([ABC])\\]\\]\'\nlabels = { A = "A", B = "B", C = "tie" }\n')
BROKEN_JUDGE = '[judges.j]\nprompt = "broken"\nmodel = "tiny"\n'
PROMPTS = 'name = "p"\nversion = 1\nprompt = "{{ prompt }}"\n[[sources]]\nkind = "file"\npath = "../docs.jsonl"\n'

RUN = ["--config", "{root}/c.toml", "run", "--models", "tiny", "--quiet"]
BASE = ["--config", "{root}/evalkit.toml"]
TASK_RUN = BASE + ["run", "--models", "tiny", "--quiet", "--tasks", "{root}/tasks/bad.toml"]
ANSWERS = BASE + ["answers", "--models", "tiny", "--quiet", "--prompt-set"]
TRAIN = BASE + ["train", "sft", "--parent", "tiny", "--quiet", "--recipe", "{root}/r.toml"]


def config(text):
    return {"c.toml": text}


def task(text, **data):
    return {"tasks/bad.toml": text, **{f"{name}.jsonl": rows for name, rows in data.items()}}


def data_task(rows, name="rows.jsonl"):
    """A task reading its rows from `name` (the format told from the file name)."""
    return {"tasks/bad.toml": TASK.replace("../docs.jsonl", f"../{name}"), name: rows}


CONFIG_CASES = [
    ("misspelt-table", config('[projct]\nstore = "x.db"\n' + MODEL + SUITE), RUN, ["c.toml", "projct", "did you mean project"]),
    ("misspelt-task-option", config(PROJECT + MODEL + OPTIONS + "limt = 2\n"), RUN,
     ["c.toml", "options.toyppl.limt", "did you mean suites.default.options.toyppl.limit"]),
    ("source-not-string", config(PROJECT + '[models.tiny]\nsource = 123\n' + SUITE), RUN, ["models.tiny.source must be a string"]),
    ("max-length-string", config(PROJECT + MODEL + 'max_length = "long"\n' + SUITE), RUN, ["models.tiny.max_length must be int"]),
    ("chat-template-nonsense", config(PROJECT + MODEL + 'chat_template = "chatml"\n' + SUITE), RUN, ["models.tiny.chat_template"]),
    ("dtype", config(PROJECT + MODEL + 'dtype = "float8"\n' + SUITE), RUN, ["models.tiny.dtype = 'float8'"]),
    ("quantization", config(PROJECT + MODEL + 'quantization = "2bit"\n' + SUITE), RUN, ["models.tiny.quantization"]),
    ("device", config(PROJECT + MODEL + 'device = "gpu0"\n' + SUITE), RUN, ["models.tiny.device = 'gpu0'"]),
    ("batch-size-zero", config(PROJECT + MODEL.replace("4", "0") + SUITE), RUN, ["models.tiny.batch_size = 0"]),
    ("batch-size-string", config(PROJECT + MODEL.replace("4", '"big"') + SUITE), RUN, ["models.tiny.batch_size must be int"]),
    ("model-key-typo", config(PROJECT + MODEL + "batchsize = 4\n" + SUITE), RUN, ["did you mean models.tiny.batch_size"]),
    ("max-length-small", config(PROJECT + MODEL + "max_length = 0\n" + SUITE), RUN, ["models.tiny.max_length = 0"]),
    ("not-utf8", {"c.toml": b"[project]\nstore = '\xff\xfe'\n"}, RUN, ["c.toml", "not UTF-8"]),
    ("bad-toml", config("[models.tiny\nsource = 'x'\n"), RUN, ["c.toml", "not valid TOML"]),
    ("model-not-table", config(PROJECT + '[models]\ntiny = "x"\n' + SUITE), RUN, ["[models.tiny] must be a table"]),
    ("empty-suite", config(PROJECT + MODEL + '[suites.default]\ntasks = []\n'), RUN, ["suites.default.tasks must be a non-empty"]),
    ("suite-key-typo", config(PROJECT + MODEL + '[suites.default]\ntask = ["toyppl"]\n'), RUN, ["suites.default"]),
    ("suite-formats-string", config(PROJECT + MODEL + SUITE + 'formats = "cloze"\n'), RUN,
     ["c.toml", "suites.default.formats must be a list of prompt formats", "'cloze'"]),
    ("suite-formats-unknown", config(PROJECT + MODEL + SUITE + 'formats = ["letters"]\n'), RUN,
     ["c.toml: suites.default.formats: unknown format 'letters'", "known: mc, cloze"]),
    ("limit-zero", config(PROJECT + MODEL + OPTIONS + "limit = 0\n"), RUN, ["options.toyppl.limit = 0"]),
    ("limit-negative", config(PROJECT + MODEL + OPTIONS + "limit = -1\n"), RUN, ["options.toyppl.limit = -1"]),
    ("limit-string", config(PROJECT + MODEL + OPTIONS + 'limit = "all"\n'), RUN, ["options.toyppl.limit must be int"]),
    ("fewshot-negative", config(PROJECT + MODEL + OPTIONS + "num_fewshot = -1\n"), RUN, ["num_fewshot = -1"]),
    ("sample-seed-string", config(PROJECT + MODEL + OPTIONS + 'sample_seed = "x"\n'), RUN, ["sample_seed must be int"]),
    ("subjects-string", config(PROJECT + MODEL + OPTIONS + 'subjects = "abc"\n'), RUN, ["options.toyppl.subjects"]),
    ("sources-option-typo", config(PROJECT + MODEL + OPTIONS + 'sources = ["pakage"]\n'), RUN, ["sources = ['pakage']"]),
    ("seed-string", config('[project]\nseed = "x"\n' + MODEL + SUITE), RUN, ["project.seed must be int"]),
    ("store-not-string", config('[project]\nstore = 5\n' + MODEL + SUITE), RUN, ["project.store must be a path"]),
    ("parent-unknown", config(GOOD + '[models.sft]\nrecipe = "r.toml"\nparent = "nope"\n'), RUN, ["models.sft.parent = 'nope'"]),
    ("suite-judge-unknown", config(PROJECT + MODEL + SUITE + 'judge = "nope"\n'), RUN, ["suites.default.judge names 'nope'"]),
    ("judge-method", config(GOOD + JUDGE + 'method = "vote"\n'), RUN, ["judges.j.method = 'vote'"]),
    ("judge-position", config(GOOD + JUDGE + 'position = "calibrated"\n'), RUN, ["judges.j.position"]),
    ("judge-tie-band", config(GOOD + JUDGE + 'tie_band = 0.7\n'), RUN, ["judges.j.tie_band = 0.7"]),
    ("judge-key-typo", config(GOOD + JUDGE + 'promt = "x"\n'), RUN, ["did you mean judges.j.prompt"]),
    ("endpoint-timeout", config(GOOD + '[models.api]\nsource = "openai:gpt"\ntimeout = -1\n'), RUN, ["models.api.timeout"]),
    ("api-key-in-config", config(GOOD + '[models.api]\nsource = "openai:gpt"\napi_key_env = "sk-abc"\n'), RUN,
     ["models.api.api_key_env looks like a key"]),
    ("suite-prompt-limit-zero", config(PROJECT + MODEL + SUITE + 'judge = "j"\nprompt_limit = 0\n' + JUDGE), RUN,
     ["suites.default.prompt_limit = 0"]),
]

JUDGE_CASES = [  # a judge file's mistake stops the run before models load and answers are generated
    ("judge-template-syntax", {**config(GOOD + 'judge = "j"\n' + BROKEN_JUDGE),
                               "judges/broken.toml": JUDGE_FILE.replace("{{ answer_b }}", "{{ answer_b }")}, RUN,
     ["broken.toml", "`user` is not a valid Jinja template"]),
    ("judge-sampling-key-typo", {**config(GOOD + 'judge = "j"\n' + BROKEN_JUDGE),
                                 "judges/broken.toml": JUDGE_FILE + "[sampling]\nmax_tokens = 8\n"}, RUN,
     ["broken.toml", "unknown key sampling.max_tokens", "did you mean sampling.max_new_tokens"]),
    ("judge-max-new-tokens", {**config(GOOD + 'judge = "j"\n' + BROKEN_JUDGE),
                              "judges/broken.toml": JUDGE_FILE + '[sampling]\nmax_new_tokens = "many"\n'}, RUN,
     ["broken.toml", "sampling.max_new_tokens = 'many'"]),
    ("judge-verdict-key-typo", {**config(GOOD + 'judge = "j"\n' + BROKEN_JUDGE),
                                "judges/broken.toml": JUDGE_FILE.replace("labels =", "label =")}, RUN,
     ["broken.toml", "unknown key verdict.label", "did you mean verdict.labels"]),
    ("judge-template-undefined", {**config(GOOD + BROKEN_JUDGE + MODEL.replace("tiny", "tiny2")),
                                  "judges/broken.toml": JUDGE_FILE.replace("answer_b", "answer")},
     ["--config", "{root}/c.toml", "judge", "--models", "tiny,tiny2", "--quiet"],
     ["broken.toml", "`user` uses {{ answer }}", "use question, answer_a, answer_b"]),
]

TASK_CASES = [
    ("task-formats-on-perplexity", task(TASK + '[formats.cloze]\nprompt = "x"\n'), TASK_RUN,
     ["bad.toml", "[formats] declares formulations", "kind choice take (this one is perplexity)"]),
    ("task-kind-typo", task(TASK.replace('"perplexity"\nid', '"perplexty"\nid')), TASK_RUN, ["bad.toml", "did you mean 'perplexity'"]),
    ("task-version-zero", task(TASK.replace("version = 1", "version = 0")), TASK_RUN, ["bad.toml", "version = 0"]),
    ("task-version-string", task(TASK.replace("version = 1", 'version = "1"')), TASK_RUN, ["bad.toml", "`version` is required"]),
    ("task-no-name", task(TASK.replace('name = "bad"\n', "")), TASK_RUN, ["bad.toml", "`name` is required"]),
    ("source-kind-typo", task(TASK.replace('kind = "file"', 'kind = "fil"')), TASK_RUN, ["bad.toml", "did you mean 'file'"]),
    ("source-format", task(TASK.replace('kind = "file"', 'kind = "file"\nformat = "parquet"')), TASK_RUN,
     ["bad.toml", "format = 'parquet'"]),
    ("source-key-typo", task(TASK.replace("path =", "pth =")), TASK_RUN, ["bad.toml", "did you mean path"]),
    ("source-path-type", task(TASK.replace('path = "../docs.jsonl"', "path = 3")), TASK_RUN, ["bad.toml", "`path` must be a string"]),
    ("data-missing", task(TASK.replace("docs.jsonl", "nowhere.jsonl")), TASK_RUN, ["no data found", "nowhere.jsonl"]),
    ("other-kind-table", task(TASK + '[generate]\nprompt = "x"\n'), TASK_RUN, ["bad.toml", "[generate] is set but kind"]),
    ("task-key-typo", task(TASK.replace('name = "bad"', 'name = "bad"\ndescripton = "x"')), TASK_RUN,
     ["bad.toml", "descripton"]),
    ("task-not-utf8", {"tasks/bad.toml": TASK.encode().replace(b"bad", b"b\xe9d", 1)}, TASK_RUN, ["bad.toml", "not UTF-8"]),
    ("task-file-missing", {}, BASE + ["run", "--models", "tiny", "--quiet", "--tasks", "{root}/tasks/nope.toml"],
     ["nope.toml", "not found"]),
    ("task-name-unknown", {}, BASE + ["run", "--models", "tiny", "--quiet", "--tasks", "toypl"],
     ["unknown task 'toypl'", "did you mean toyppl"]),
    ("where-syntax", task(TASK.replace('kind = "file"', 'kind = "file"\nwhere = "id =="')), TASK_RUN,
     ["bad.toml", "not a valid Jinja expression"]),
    ("perplexity-key-typo", task(TASK.replace('text = "{{ text }}"', 'text = "{{ text }}"\ncount_txt = "{{ text }}"')), TASK_RUN,
     ["bad.toml", "unknown key perplexity.count_txt", "did you mean perplexity.count_text"]),
    ("fewshot-key-typo", task(TASK + "[fewshot]\nnum_fewsho = 2\n"), TASK_RUN,
     ["bad.toml", "unknown key fewshot.num_fewsho", "did you mean fewshot.num_fewshot"]),
    ("lm-eval-key-typo", task('name = "bad"\nversion = 1\nkind = "lm_eval"\ntask = "arc_easy"\n[lm_eval]\nnum_fewsho = 2\n'),
     TASK_RUN, ["bad.toml", "unknown key lm_eval.num_fewsho", "did you mean lm_eval.num_fewshot"]),
    ("scorer-args-unused", task(TASK.replace('"perplexity"\nid', '"generate"\nscorers = ["exact_match"]\nid').replace(
        '[perplexity]\ntext = "{{ text }}"\n', '[generate]\nprompt = "{{ text }}"\ntarget = "{{ id }}"\n'
        '[scorer_args."evaluate:bleu"]\nmax_order = 2\n')), TASK_RUN, ["bad.toml", "[scorer_args.\"evaluate:bleu\"] is set but `scorers` names no"]),
    ("kind-table-not-table", task(TASK.replace('[perplexity]\ntext = "{{ text }}"\n', '').replace('id_field = "id"\n', 'id_field = "id"\nperplexity = "x"\n')), TASK_RUN,
     ["bad.toml", "[perplexity] must be a table"]),
]

DATA_CASES = [
    ("data-empty", data_task(""), TASK_RUN, ["rows.jsonl", "no rows"]),
    ("data-bad-json", data_task('{"id": "a", "text": "x"}\n{"id": "b", "text": \n'), TASK_RUN, ["rows.jsonl:2", "not valid JSON"]),
    ("data-missing-field", data_task('{"id": "a", "body": "x"}\n'), TASK_RUN, ["rows.jsonl:1"]),
    ("data-duplicate-id", data_task('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n'), TASK_RUN,
     ["rows.jsonl:2", "id 'a' is already used"]),
    ("data-json-not-list", data_task('{"id": "a"}', "rows.json"), TASK_RUN, ["rows.json", "expected a JSON list"]),
    ("data-not-utf8", data_task(b'{"id": "a", "text": "\xff"}\n'), TASK_RUN, ["rows.jsonl", "UTF-8"]),
    ("data-csv-columns", data_task('id,text\na,x,extra\n', "rows.csv"), TASK_RUN, ["rows.csv:2", "columns"]),
    ("data-not-object", data_task('["a", "b"]\n'), TASK_RUN, ["rows.jsonl:1", "JSON object"]),
]

PROMPT_CASES = [
    ("prompt-is-table", {"p.jsonl": '{"id": "1", "prompt": {"text": "hi"}}\n'}, ANSWERS + ["p.jsonl"], ["p.jsonl:1", "`prompt` must be text"]),
    ("prompt-duplicate-id", {"p.jsonl": '{"id": "1", "prompt": "a"}\n{"id": "1", "prompt": "b"}\n'}, ANSWERS + ["p.jsonl"],
     ["p.jsonl", "'1' appears twice"]),
    ("prompts-empty", {"p.jsonl": ""}, ANSWERS + ["p.jsonl"], ["p.jsonl", "no rows"]),
    ("prompt-missing", {"p.jsonl": '{"id": "1", "text": "a"}\n'}, ANSWERS + ["p.jsonl"], ["p.jsonl:1", "no prompt"]),
    ("prompt-template", {"promptsets/p.toml": PROMPTS.replace("{{ prompt }}", "{{ prompt")}, ANSWERS + ["promptsets/p.toml"],
     ["p.toml", "`prompt` is not a valid template"]),
    ("prompt-max-tokens", {"promptsets/p.toml": PROMPTS + '[generate]\nmax_new_tokens = "many"\n'}, ANSWERS + ["promptsets/p.toml"],
     ["p.toml", "generate.max_new_tokens = 'many'"]),
    ("prompt-key-typo", {"promptsets/p.toml": 'promt = "x"\n' + PROMPTS}, ANSWERS + ["promptsets/p.toml"], ["p.toml", "did you mean prompt"]),
    ("prompt-temperature", {"promptsets/p.toml": PROMPTS + '[generate]\ntemperature = "hot"\n'}, ANSWERS + ["promptsets/p.toml"],
     ["p.toml", "generate.temperature = 'hot'"]),
    ("prompt-limit-zero", {}, ANSWERS + ["default", "--limit", "0"], ["--limit 0"]),
    ("prompt-limit-negative", {}, ANSWERS + ["default", "--limit", "-1"], ["--limit -1"]),
    ("prompt-set-unknown", {}, ANSWERS + ["nosuchset"], ["unknown prompt set 'nosuchset'"]),
]

RECIPE_CASES = [
    ("recipe-zero-steps", {"r.toml": RECIPE + "[train]\nmax_steps = 0\n"}, TRAIN, ["r.toml", "train.max_steps = 0"]),
    ("recipe-zero-epochs", {"r.toml": RECIPE + "[train]\nepochs = 0\n"}, TRAIN, ["r.toml", "train.epochs = 0"]),
    ("recipe-layers-all-linear", {"r.toml": RECIPE + "[lora]\nlayers = 2\n"}, TRAIN, ["r.toml", "lora.layers = 2"]),
    ("recipe-scheduler", {"r.toml": RECIPE + '[train]\nlr_scheduler = "cosin"\n'}, TRAIN, ["r.toml", "train.lr_scheduler = 'cosin'"]),
    ("recipe-type", {"r.toml": RECIPE + '[train]\nlearning_rate = "fast"\n'}, TRAIN, ["r.toml", "train.learning_rate = 'fast'"]),
    ("recipe-key-typo", {"r.toml": RECIPE + "[train]\nlerning_rate = 1e-4\n"}, TRAIN, ["r.toml", "train.lerning_rate"]),
    ("recipe-top-key-typo", {"r.toml": RECIPE.replace('stage = "sft"', 'stage = "sft"\ndescripton = "x"')}, TRAIN,
     ["r.toml", "unknown key 'descripton'", "did you mean description"]),
    ("recipe-source-key-typo", {"r.toml": RECIPE.replace("path =", "pth =")}, TRAIN,
     ["r.toml", "unknown key data.sources[0].pth", "did you mean data.sources[0].path"]),
    ("recipe-stage", {"r.toml": RECIPE.replace('"sft"', '"ppo"')}, TRAIN, ["r.toml", "stage = 'ppo'"]),
    ("recipe-rank-zero", {"r.toml": RECIPE + "[lora]\nr = 0\n"}, TRAIN, ["r.toml", "lora.r = 0"]),
    ("recipe-template-missing", {"r.toml": RECIPE + '[model]\nchat_template = "missing.jinja"\n'}, TRAIN,
     ["r.toml", "model.chat_template = 'missing.jinja'"]),
    ("recipe-set-zero-epochs", {"r.toml": RECIPE}, TRAIN + ["--set", "train.epochs=0"], ["r.toml", "train.epochs = 0"]),
    ("recipe-dpo-loss", {"r.toml": RECIPE.replace('"sft"', '"dpo"') + '[preference]\nloss_type = "sigmod"\n'},
     BASE + ["train", "dpo", "--parent", "tiny", "--recipe", "{root}/r.toml"],
     ["r.toml", "preference.loss_type = 'sigmod'"]),
    ("recipe-not-utf8", {"r.toml": b'stage = "sft\xff"\n'}, TRAIN, ["r.toml", "not UTF-8"]),
]


def safetensors_bytes(data_bytes: int) -> bytes:
    """A .safetensors file whose header promises one 10x10 float32 tensor (400 bytes) over `data_bytes`."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [10, 10], "data_offsets": [0, 400]}}).encode()
    return struct.pack("<Q", len(header)) + header + bytes(data_bytes)


WEIGHTS_RUN = BASE + ["run", "--models", "{root}/broken", "--quiet"]
WEIGHTS_CASES = [  # a damaged weights file in a local model folder, named before anything loads
    ("weights-truncated", {"broken/model.safetensors": safetensors_bytes(100)}, WEIGHTS_RUN,
     ["broken/model.safetensors", "damaged or incomplete", "download, copy or train it again"]),
    ("weights-garbage", {"broken/model.safetensors": b"these are not weights\n" * 40}, WEIGHTS_RUN,
     ["broken/model.safetensors", "cannot be read"]),
]

CLI_CASES = [
    ("cli-limit-zero", {}, BASE + ["run", "--models", "tiny", "--quiet", "--limit", "0"], ["--limit 0"]),
    ("cli-limit-negative", {}, BASE + ["run", "--models", "tiny", "--quiet", "--limit", "-1"], ["--limit -1"]),
    ("cli-limit-word", {}, BASE + ["run", "--limit", "abc"], ["--limit", "invalid int value: 'abc'"]),
    ("cli-fewshot-negative", {}, BASE + ["run", "--models", "tiny", "--quiet", "--num-fewshot", "-1"], ["--num-fewshot -1"]),
    ("cli-dtype", {}, BASE + ["run", "--dtype", "float8"], ["--dtype", "float8"]),
    ("cli-empty-model", {}, BASE + ["run", "--models", "tiny,", "--quiet"], ["--models", "empty name"]),
    ("cli-unknown-model", {}, BASE + ["run", "--models", "nope", "--quiet"], ["unknown model 'nope'"]),
    ("cli-missing-model-folder", {}, BASE + ["run", "--models", "./ckpt-500", "--quiet"], ["./ckpt-500", "check the path"]),
    ("cli-unknown-suite", {}, BASE + ["run", "--models", "tiny", "--suite", "nope", "--quiet"], ["unknown suite 'nope'"]),
    ("cli-suite-and-tasks", {}, BASE + ["run", "--models", "tiny", "--suite", "default", "--tasks", "toyppl"], ["--tasks", "--suite"]),
    ("cli-batch-size-zero", {}, BASE + ["run", "--models", "tiny", "--quiet", "--batch-size", "0"], ["batch_size = 0"]),
    ("cli-unknown-flag", {}, BASE + ["run", "--limt", "3"], ["unrecognized arguments: --limt"]),
    ("cli-unknown-format", {}, BASE + ["run", "--models", "tiny", "--quiet", "--formats", "mc,clozze"],
     ["--formats: unknown format 'clozze'", "known: mc, cloze"]),
    ("cli-format-no-task-takes", {}, BASE + ["run", "--models", "tiny", "--quiet", "--formats", "chat"],
     ["--formats chat: no task of this run can take it", "toyppl is a perplexity task"]),
    ("cli-report-missing-run", {}, BASE + ["report", "--run", "999"], ["999"]),
    ("cli-export-missing-run", {}, BASE + ["export", "--run", "999", "--out", "{root}/x.jsonl"], ["no run 999"]),
    ("cli-config-missing", {}, ["--config", "{root}/missing.toml", "run"], ["missing.toml", "not found"]),
    ("cli-serve-unknown-model", {}, BASE + ["serve", "--model", "nope"], ["unknown model 'nope'"]),
    ("cli-run-workers-not-a-count", {}, BASE + ["run", "--models", "tiny", "--quiet", "--workers", "two"],
     ["--workers 'two' is not a count", "or `auto`"]),
    ("cli-serve-workers-not-a-count", {}, BASE + ["serve", "--model", "tiny", "--port", "0", "--workers", "0"],
     ["--workers '0' is not a count"]),
    ("cli-store-wait", {}, BASE + ["runs"], ["EVALKIT_STORE_WAIT='soon'"]),
    ("cli-serve-backend-unknown", {}, BASE + ["serve", "--model", "tiny", "--backend", "vlm"],
     ["argument --backend: invalid choice: 'vlm'"]),
]

RAY_RUN = BASE + ["run", "--models", "tiny", "--quiet", "--ray"]
RAY_CASES = [  # --ray and [parallel]: said before any model loads and before the run starts in the store
    ("parallel-key-typo", config(GOOD + "[parallel]\nworker = 2\n"), RUN, ["c.toml", "did you mean parallel.workers"]),
    ("parallel-ray-number", config(GOOD + "[parallel]\nray = 6379\n"), RUN, ["parallel.ray must be a Ray address"]),
    ("parallel-workers-zero", config(GOOD + "[parallel]\nworkers = 0\n"), RUN, ["parallel.workers = 0"]),
    ("parallel-cpus-zero", config(GOOD + "[parallel]\ncpus_per_worker = 0\n"), RUN, ["parallel.cpus_per_worker = 0"]),
    ("tensor-parallel-on-hf", config(PROJECT + MODEL + "tensor_parallel_size = 2\n" + SUITE), RUN,
     ["models.tiny.tensor_parallel_size = 2", 'only with backend = "vllm"']),
    ("data-parallel-size", config(PROJECT + MODEL + "data_parallel_size = 2\n" + SUITE), RUN,
     ["models.tiny.data_parallel_size", "--ray ADDRESS"]),
    ("ray-not-an-address", {}, RAY_RUN + ["head-node"], ["--ray 'head-node' is not a Ray address", "ray://HOST:10001"]),
    ("ray-nothing-there", {}, RAY_RUN + ["127.0.0.1:9"], ["--ray 127.0.0.1:9: nothing answers at 127.0.0.1:9",
                                                           "ray start --head"]),
    ("ray-client-nothing-there", {}, RAY_RUN + ["ray://127.0.0.1:9"], ["nothing answers at 127.0.0.1:9"]),
    ("ray-too-small", config(GOOD + "[parallel]\nray = \"local\"\ncpus_per_worker = 4096\n"), RUN,
     ["--ray local: no node has room for one worker (4096 CPU", "lower parallel.cpus_per_worker"]),
]

CASES = (CONFIG_CASES + JUDGE_CASES + TASK_CASES + DATA_CASES + PROMPT_CASES + RECIPE_CASES + WEIGHTS_CASES + CLI_CASES
         + RAY_CASES)

ENVIRONMENT = {"cli-store-wait": {"EVALKIT_STORE_WAIT": "soon"}}
