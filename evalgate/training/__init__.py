"""What the train stage is made of: reading and encoding the prepared records (data), the frozen
lower layers' states computed once (trunk), and the loss on answer tokens only (sft)."""
