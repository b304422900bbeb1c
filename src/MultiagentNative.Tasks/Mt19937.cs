// The Mersenne Twister as numpy's legacy RandomState uses it, so the Arithmetic problems match Du et al.'s
// np.random.seed(s) + np.random.randint(0, 30, size=6) draws. Also the seeded shuffle of every split in Tasks.
namespace MultiagentNative.Tasks;

public sealed class Mt19937
{
    private const int StateLength = 624;
    private const int Shift = 397;
    private readonly uint[] _state = new uint[StateLength];
    private int _position;

    /// <summary>Seeds as numpy's mt19937_seed (the reference init_genrand); numpy's RandomState(int) uses this.</summary>
    public Mt19937(uint seed)
    {
        _state[0] = seed;
        for (int i = 1; i < StateLength; i++)
            _state[i] = unchecked(1812433253u * (_state[i - 1] ^ (_state[i - 1] >> 30)) + (uint)i);
        _position = StateLength;
    }

    public uint NextUInt32()
    {
        if (_position >= StateLength)
            Twist();
        uint y = _state[_position++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

    /// <summary>numpy random_sample: 53 bits from two draws, (a>>5 * 2^26 + b>>6) / 2^53.</summary>
    public double NextDouble()
    {
        uint a = NextUInt32() >> 5, b = NextUInt32() >> 6;
        return (a * 67108864.0 + b) / 9007199254740992.0;
    }

    /// <summary>
    /// An integer in [0, maxInclusive] by numpy's legacy masked rejection (randint with use_masked=True):
    /// draw 32 bits, keep the bits of the smallest all-ones mask covering the range, retry above it.
    /// </summary>
    public uint NextMasked(uint maxInclusive)
    {
        if (maxInclusive == 0)
            return 0;
        uint mask = maxInclusive;
        mask |= mask >> 1; mask |= mask >> 2; mask |= mask >> 4; mask |= mask >> 8; mask |= mask >> 16;
        uint value;
        while ((value = NextUInt32() & mask) > maxInclusive) { }
        return value;
    }

    /// <summary>Fisher-Yates from the end, each swap index by <see cref="NextMasked"/> (numpy's legacy shuffle order).</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = (int)NextMasked((uint)i);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    private void Twist()
    {
        for (int i = 0; i < StateLength; i++)
        {
            uint y = (_state[i] & 0x80000000u) | (_state[(i + 1) % StateLength] & 0x7fffffffu);
            uint next = _state[(i + Shift) % StateLength] ^ (y >> 1);
            _state[i] = (y & 1) != 0 ? next ^ 0x9908b0dfu : next;
        }
        _position = 0;
    }
}
