from fastnn.reference.optim import adam as adam, rmsprop as rmsprop, sgd as sgd, sgd_momentum as sgd_momentum

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam"]
