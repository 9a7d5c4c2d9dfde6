// Flood client: keeps W queries in flight to 127.0.0.1:port for T seconds, batching with mmsg.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <poll.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){
  int port=atoi(argv[1]); int W=atoi(argv[2]); double T=atof(argv[3]);
  int fd=socket(AF_INET,SOCK_DGRAM,0);
  struct sockaddr_in a={.sin_family=AF_INET,.sin_port=htons(port)}; a.sin_addr.s_addr=htonl(INADDR_LOOPBACK);
  connect(fd,(void*)&a,sizeof a);
  int big=4<<20; setsockopt(fd,SOL_SOCKET,SO_RCVBUF,&big,sizeof big);
  unsigned char q[60]={0}; q[5]=1; // 1 question
  memcpy(q+12,"\x05n0000\x05""bench\x04test\x00\x00\x01\x00\x01",23);
  static struct mmsghdr m[64]; static struct iovec iv[64]; static char rb[64][512];
  long sent=0,recvd=0; double end=now()+T;
  while(now()<end){
    long want=W-(sent-recvd); if(want>64)want=64;
    if(want>0){ for(int i=0;i<want;i++){iv[i].iov_base=q;iv[i].iov_len=35;m[i].msg_hdr=(struct msghdr){.msg_iov=&iv[i],.msg_iovlen=1};}
      int s=sendmmsg(fd,m,want,0); if(s>0)sent+=s; }
    for(int i=0;i<64;i++){iv[i].iov_base=rb[i];iv[i].iov_len=512;m[i].msg_hdr=(struct msghdr){.msg_iov=&iv[i],.msg_iovlen=1};}
    struct timespec to={0,50000000};
    int r=recvmmsg(fd,m,64,MSG_WAITFORONE,&to);
    if(r>0)recvd+=r; else if (r<0 && errno==EAGAIN) { sent=recvd; } // lost: reset window
  }
  printf("client: sent=%ld recvd=%ld rate=%.0f/s\n",sent,recvd,recvd/T);
}
