"""What the MaixCAM does, as data and code: the model's input contract, the runtime's pose
decoder, and its speed model. Imports only infra."""
