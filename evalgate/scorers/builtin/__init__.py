"""The built-in scorers; importing this package registers them all.

- text: exact_match, contains, regex_match, regex_extract, length
- json_scorers: json_valid, json_schema, json_field_match
- rouge: rouge (Unicode-aware tokenizer)
- bertscore: bertscore (local model, loaded lazily)
- numeric: numeric
"""

from evalgate.scorers.builtin import bertscore, json_scorers, numeric, rouge, text

__all__ = ["bertscore", "json_scorers", "numeric", "rouge", "text"]
