# The canonical PyTorch MNIST example (github.com/pytorch/examples, mnist/main.py) run by doppel:
# the lines between "# ---- doppel" markers replace `import torch ...` and torchvision's MNIST
# (Fashion-MNIST from Debian's dataset-fashion-mnist package here: no downloads); everything else
# is the example's code unchanged. examples/README.md lists the differing lines.
#
#   PYTHONPATH=build/release/python .venv/bin/python examples/pytorch_mnist.py --epochs 1 [--limit 2000]
from __future__ import print_function
import argparse
# ---- doppel: the imports (was: import torch / torch.nn / torch.nn.functional / torch.optim /
# torchvision / torch.optim.lr_scheduler)
import gzip
import numpy as np
import doppel as torch
import doppel.nn as nn
import doppel.nn.functional as F
import doppel.optim as optim
from doppel.optim.lr_scheduler import StepLR
# ---- end doppel


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(args, model, device, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))
            if args.dry_run:
                break


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()

    test_loss /= len(test_loader.dataset)

    print('\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n'.format(
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))


# ---- doppel: the dataset (was: torchvision's transforms.Compose([ToTensor(), Normalize(...)])
# and datasets.MNIST('../data', train=..., download=True, transform=transform))
def fashion_mnist(train, limit):
    split = "train" if train else "t10k"

    def idx(kind):
        raw = gzip.open(f"/usr/share/datasets/fashion-mnist/{split}-{kind}-ubyte.gz", "rb").read()
        dims = np.frombuffer(raw, ">u4", raw[3], 4).astype(np.int64)
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(dims)[:limit]

    images = (idx("images-idx3").astype(np.float32) / 255.0 - 0.2860) / 0.3530
    labels = idx("labels-idx1").astype(np.int64)
    return torch.utils.data.TensorDataset(torch.from_numpy(images[:, None].copy()), torch.from_numpy(labels))
# ---- end doppel


def main():
    # Training settings
    parser = argparse.ArgumentParser(description='PyTorch MNIST Example')
    parser.add_argument('--batch-size', type=int, default=64, metavar='N',
                        help='input batch size for training (default: 64)')
    parser.add_argument('--test-batch-size', type=int, default=1000, metavar='N',
                        help='input batch size for testing (default: 1000)')
    parser.add_argument('--epochs', type=int, default=14, metavar='N',
                        help='number of epochs to train (default: 14)')
    parser.add_argument('--lr', type=float, default=1.0, metavar='LR',
                        help='learning rate (default: 1.0)')
    parser.add_argument('--gamma', type=float, default=0.7, metavar='M',
                        help='Learning rate step gamma (default: 0.7)')
    parser.add_argument('--no-cuda', action='store_true', default=False,
                        help='disables CUDA training')
    parser.add_argument('--no-mps', action='store_true', default=False,
                        help='disables macOS GPU training')
    parser.add_argument('--dry-run', action='store_true', default=False,
                        help='quickly check a single pass')
    parser.add_argument('--seed', type=int, default=1, metavar='S',
                        help='random seed (default: 1)')
    parser.add_argument('--log-interval', type=int, default=10, metavar='N',
                        help='how many batches to wait before logging training status')
    parser.add_argument('--save-model', action='store_true', default=False,
                        help='For Saving the current Model')
    # ---- doppel: a quick-run option (not in the original)
    parser.add_argument('--limit', type=int, default=None, help='use the first N images of each split')
    # ---- end doppel
    args = parser.parse_args()
    use_cuda = not args.no_cuda and torch.cuda.is_available()
    use_mps = not args.no_mps and torch.backends.mps.is_available()

    torch.manual_seed(args.seed)

    if use_cuda:
        device = torch.device("cuda")
    elif use_mps:
        device = torch.device("mps")
    else:
        device = torch.device("cpu")

    train_kwargs = {'batch_size': args.batch_size}
    test_kwargs = {'batch_size': args.test_batch_size}
    if use_cuda:
        cuda_kwargs = {'num_workers': 1,
                       'pin_memory': True,
                       'shuffle': True}
        train_kwargs.update(cuda_kwargs)
        test_kwargs.update(cuda_kwargs)

    # ---- doppel: the dataset lines (see fashion_mnist above)
    dataset1 = fashion_mnist(train=True, limit=args.limit)
    dataset2 = fashion_mnist(train=False, limit=args.limit)
    # ---- end doppel
    train_loader = torch.utils.data.DataLoader(dataset1,**train_kwargs)
    test_loader = torch.utils.data.DataLoader(dataset2, **test_kwargs)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)

    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch)
        test(model, device, test_loader)
        scheduler.step()

    if args.save_model:
        torch.save(model.state_dict(), "mnist_cnn.pt")


if __name__ == '__main__':
    main()
