import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import javax.smartcardio.*;

/**
 * getDeviceInfo and a signature from an SKS card with javax.smartcardio (JDK 11+).
 *
 * <pre>java SksSign.java READER KEY_HANDLE PIN SHA256_HEX</pre>
 *
 * Prints the vendor and API level, then the ECDSA signature (raw r || s, hex). Wire format:
 * apdu-spec/README.md. The JDK fetches 61xx answers itself (256 bytes at a time, up to 73,470
 * bytes: enough here; see the README for longer ones).
 */
public class SksSign {
    static final byte[] AID = HexFormat.of().parseHex("F0534B530100");
    static final String ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";

    static ByteBuffer call(CardChannel ch, int method, byte[] args) throws CardException {
        ResponseAPDU r = args.length == 0
                ? ch.transmit(new CommandAPDU(0x80, 0x52, method, 0x00, 65536))
                : ch.transmit(new CommandAPDU(0x80, 0x52, method, 0x00, args, 65536));
        if (r.getSW() != 0x9000) throw new IllegalStateException(String.format("SW %04X", r.getSW()));
        ByteBuffer b = ByteBuffer.wrap(r.getData());
        int status = b.get();
        if (status != 0) throw new IllegalStateException("SKS error " + status + ": " + string(b));
        return b;
    }

    static byte[] bytes(ByteBuffer b) {
        byte[] v = new byte[b.getShort() & 0xFFFF];
        b.get(v);
        return v;
    }

    static String string(ByteBuffer b) {
        return new String(bytes(b), StandardCharsets.UTF_8);
    }

    static void blob(ByteArrayOutputStream o, byte[] v) {
        o.write(v.length >> 8);
        o.write(v.length);
        o.writeBytes(v);
    }

    public static void main(String[] a) throws Exception {
        Card card = TerminalFactory.getDefault().terminals().getTerminal(a[0]).connect("*");
        CardChannel ch = card.getBasicChannel();
        if (ch.transmit(new CommandAPDU(0x00, 0xA4, 0x04, 0x00, AID)).getSW() != 0x9000)
            throw new IllegalStateException("SELECT");

        ByteBuffer info = call(ch, 0x01, new byte[0]);
        int apiLevel = info.getShort() & 0xFFFF;
        info.get(); // deviceType
        string(info); // updateUrl
        System.out.println("vendor: " + string(info));
        System.out.println("apiLevel: " + apiLevel);

        ByteArrayOutputStream args = new ByteArrayOutputStream();
        args.writeBytes(ByteBuffer.allocate(4).putInt(Integer.parseInt(a[1])).array());
        blob(args, ECDSA_SHA256.getBytes(StandardCharsets.UTF_8));
        blob(args, new byte[0]); // parameters
        args.write(0); // biometricAuth = false
        blob(args, a[2].getBytes(StandardCharsets.UTF_8)); // the PIN
        blob(args, HexFormat.of().parseHex(a[3]));
        byte[] signature = bytes(call(ch, 0x64, args.toByteArray()));
        System.out.println("signature: " + HexFormat.of().formatHex(signature));
        card.disconnect(false);
    }
}
