"""The specification's program (SPEC.md, "The program that must run"), completed as a user would.

    RUSTORCH_DATA=../shared/data/mnist python examples/seed_program.py [--epochs N] [--limit N]

The specification leaves ``model`` and ``train_loader`` undefined and trains for 100 epochs; here the
model is a ``rustorch.Sequential`` of its layers, the loader a ``rustorch.DataLoader`` over
MNIST with one-hot targets (its ``[batch, 10]`` labels), and the epoch count a flag.
"""
import argparse
import os

import numpy as np

import rustorch

parser = argparse.ArgumentParser(description="the MNIST CNN program")
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--limit", type=int, default=None, help="train and validate on this many images")
parser.add_argument("--out", default="runs/seed_program")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
rustorch.manual_seed(0)

mnist = rustorch.datasets.MNIST(train=True)
batch_data, batch_labels = mnist.arrays(normalize=True, one_hot=True)  # [60000,1,28,28], [60000,10]
test_data, test_labels = rustorch.datasets.MNIST(train=False).arrays(normalize=True, one_hot=True)
if args.limit:
    batch_data, batch_labels = batch_data[: args.limit], batch_labels[: args.limit]
    test_data, test_labels = test_data[: args.limit], test_labels[: args.limit]

# --- the specification's program ---------------------------------------------------------
X = rustorch.Variable(rustorch.tensor(batch_data), requires_grad=False)   # [batch, 1, 28, 28]
y = rustorch.Variable(rustorch.tensor(batch_labels), requires_grad=False)  # [batch, 10] (one-hot)

conv1 = rustorch.Conv2d(1, 32, kernel_size=3, padding=1); bn1 = rustorch.BatchNorm2d(32)
relu1 = rustorch.ReLU(); pool1 = rustorch.MaxPool2d(kernel_size=2); dropout1 = rustorch.Dropout(0.25)
conv2 = rustorch.Conv2d(32, 64, kernel_size=3, padding=1); bn2 = rustorch.BatchNorm2d(64)
relu2 = rustorch.ReLU(); pool2 = rustorch.MaxPool2d(kernel_size=2); dropout2 = rustorch.Dropout(0.25)
flatten = rustorch.Flatten(); linear1 = rustorch.Linear(64 * 7 * 7, 128); bn3 = rustorch.BatchNorm1d(128)
relu3 = rustorch.ReLU(); dropout3 = rustorch.Dropout(0.5); linear2 = rustorch.Linear(128, 10)


def forward(x):
    x = dropout1(pool1(relu1(bn1(conv1(x)))))
    x = dropout2(pool2(relu2(bn2(conv2(x)))))
    x = dropout3(relu3(bn3(linear1(flatten(x)))))
    return linear2(x)


# What the specification leaves to the user: the model that owns those layers, and the loaders.
model = rustorch.Sequential(conv1, bn1, relu1, pool1, dropout1, conv2, bn2, relu2, pool2, dropout2,
                            flatten, linear1, bn3, relu3, dropout3, linear2)
train_loader = rustorch.DataLoader(rustorch.TensorDataset(X, y), batch_size=64, shuffle=True, drop_last=True)
val_loader = rustorch.DataLoader(rustorch.TensorDataset(test_data, test_labels), batch_size=1000)

criterion = rustorch.CrossEntropyLoss()
optimizer = rustorch.Adam(model.parameters(), lr=0.001, betas=(0.9, 0.999))
for epoch in range(args.epochs):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        output = forward(data)
        loss = criterion(output, target)
        loss.backward()
        optimizer.step()
    model.eval()
    correct = total = 0
    with rustorch.no_grad():
        for data, target in val_loader:
            correct += forward(data).argmax(dim=1).eq(target.argmax(dim=1)).sum().item()
            total += len(target)
    print(f"epoch {epoch}: last training loss {loss.item():.4f}, validation accuracy {100 * correct / total:.2f}%")
    if epoch % 10 == 0:
        path = os.path.join(args.out, f"model_epoch_{epoch}.pth")
        rustorch.save(model.state_dict(), path)
        print(f"saved {path}")

# The checkpoint restores the model: a fresh model loaded from it gives the same predictions.
restored = rustorch.Sequential(
    rustorch.Conv2d(1, 32, 3, padding=1), rustorch.BatchNorm2d(32), rustorch.ReLU(), rustorch.MaxPool2d(2),
    rustorch.Dropout(0.25), rustorch.Conv2d(32, 64, 3, padding=1), rustorch.BatchNorm2d(64), rustorch.ReLU(),
    rustorch.MaxPool2d(2), rustorch.Dropout(0.25), rustorch.Flatten(), rustorch.Linear(64 * 7 * 7, 128),
    rustorch.BatchNorm1d(128), rustorch.ReLU(), rustorch.Dropout(0.5), rustorch.Linear(128, 10))
restored.load_state_dict(rustorch.load(os.path.join(args.out, "model_epoch_0.pth")))
restored.eval()
if args.epochs == 1:  # the checkpoint holds the final weights only after a single epoch
    probe = rustorch.tensor(test_data[:100])
    with rustorch.no_grad():
        same = np.array_equal(np.asarray(restored(probe).argmax(1)), np.asarray(model(probe).argmax(1)))
    print(f"restored checkpoint predicts identically: {same}")
