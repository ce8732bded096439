"""Step 4 of the study: the reduced encoder and its QKeras twins, the bit-width scan,
pruning, a distilled student and QTools energy estimates."""
