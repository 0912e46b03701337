"""Task kinds. Each module provides:

    validate(task)                       -> raise ConfigError on a bad task file
    check_sample(task, sample)           -> raise DataError naming file:line on a bad row
    requests(task, sample, options)      -> list[Request] for one sample
    score(task, samples, responses, options) -> (per-sample records, metric rows)

`responses[i]` holds the responses to `requests(task, samples[i])`, in order.
"""
